"""Small value types shared by every workflow, activity and route."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Role = Literal[
    "steward", "inspector", "department", "supervisor", "device", "citizen", "enterprise", "system"
]

CaseSource = Literal["steward", "camera", "sensor", "citizen", "supervisor", "open311"]

# Identifiers we mint or import: short, printable, safe in a workflow id and a URL.
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
IdempotencyKey = Annotated[str, Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (e.g. 2026-11-25T08:00:00+08:00)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class GeoPoint(BaseModel):
    """WGS-84 coordinates as a phone or a camera reports them."""

    model_config = ConfigDict(frozen=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Actor(BaseModel):
    """Who did something: the authenticated principal, never a value typed by the caller."""

    model_config = ConfigDict(frozen=True)

    role: Role
    id: Identifier


class Evidence(BaseModel):
    """A photo, a snapshot, a note or a sensor reading attached to a case."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["photo", "video", "snapshot", "note", "sensor", "document"]
    url: Annotated[str, Field(max_length=2048, pattern=r"^https?://")] | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None
