"""Suspension (缓办 / 挂账) of a case: the handler asks, the linkage center decides.

A case that cannot be handled for a known reason (waiting for the season, a court, funds,
another authority) is suspended with the center's approval; while suspended the limit's
clock stops, and it resumes on the planned date, on the center's word or when a sensor
reports recovery. One model per update, as every other human action.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.cases.workflow import Note
from schemas.platform.common import HumanAction, Instant, Line

SuspensionReason = Literal[
    "awaiting_season",  # planting, dry weather for paint, the flood season's end
    "legal_procedure",  # a court, an administrative reconsideration
    "awaiting_funds",  # a repair waits for a budget
    "other_authority",  # a property owner, a utility, a higher authority must act first
    "other",
]
RefusalReason = Literal["not_justified", "missing_evidence", "handle_now", "other"]
ResumedBy = Literal["date", "center", "sensor"]


class SuspensionRequestBody(BaseModel):
    """A department (or the steward handling the case) asks to suspend it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason_code: SuspensionReason
    reason: Note
    resume_on: Instant | None = Field(
        default=None, description="planned resume instant; the clock restarts then by itself"
    )
    resume_condition: Annotated[Line, Field(min_length=1, max_length=300)] | None = Field(
        default=None, description="what must happen first, when there is no date"
    )

    @model_validator(mode="after")
    def _when(self) -> Self:
        if self.resume_on is None and self.resume_condition is None:
            raise ValueError("give resume_on or resume_condition")
        return self


class SuspensionRequest(SuspensionRequestBody, HumanAction):
    """The update: ``SuspensionRequestBody`` with its actor and idempotency key."""


class SuspensionDecisionBody(BaseModel):
    """The linkage center approves or refuses a pending request (with a reason code)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approve: bool
    refusal_code: RefusalReason | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _refusal_says_why(self) -> Self:
        if not self.approve and self.refusal_code is None:
            raise ValueError("a refusal needs a refusal_code")
        if self.approve and self.refusal_code is not None:
            raise ValueError("an approval has no refusal_code")
        return self


class SuspensionDecision(SuspensionDecisionBody, HumanAction):
    """The update: ``SuspensionDecisionBody`` with its actor and idempotency key."""


class ResumeCaseBody(BaseModel):
    """The linkage center (or, via ``report_recovery``, a sensor) ends a suspension."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: Note


class ResumeCase(ResumeCaseBody, HumanAction):
    """The update: ``ResumeCaseBody`` with its actor and idempotency key."""


class SuspensionView(BaseModel):
    """Where a case's suspension stands (part of the live details)."""

    state: Literal["requested", "suspended"]
    reason_code: SuspensionReason
    resume_on: datetime | None = None
    resume_condition: str | None = None
