"""The reporter's satisfaction follow-up (回访, issue 16): a rating and a comment on a closed
case, within the catalog's window (``Catalog.followup``). Not workflow models: a rating is
recorded beside the case, and "not satisfied" reopens it as rework where the policy says."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.platform.common import Text


class Followup(BaseModel):
    """Town-wide rules of the follow-up: how long after closing a reporter may rate, from
    which rating on a case counts as satisfying, and which types reopen when it does not
    (None: every type; an empty tuple: none)."""

    model_config = ConfigDict(frozen=True)

    window: timedelta = Field(default=timedelta(days=7), gt=timedelta(0))
    satisfied_from: int = Field(default=3, ge=1, le=5)
    rework_types: tuple[str, ...] | None = None

    def reworks(self, case_type: str) -> bool:
        return self.rework_types is None or case_type in self.rework_types


class SatisfactionBody(BaseModel):
    """The reporter's rating (1 very unhappy .. 5 very happy) and words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: Annotated[Text, Field(max_length=1000)] = ""


class SatisfactionAnswer(BaseModel):
    """What was recorded, and whether the case went back to work."""

    case_id: str
    rating: int
    satisfied: bool
    reopened: bool
