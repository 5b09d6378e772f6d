"""Inputs and outputs of the activities a case calls: dispatch, release, notifications."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from schemas.platform.common import Evidence, GeoPoint
from schemas.worktime.policy import SliceAnswer, SliceRequest


class DispatchRequest(BaseModel):
    """Find the nearest free steward for a case and reserve one unit of their capacity.

    ``attempt`` makes the reservation idempotent: a retried activity finds the row it
    already wrote instead of booking a second steward.
    """

    case_id: str
    attempt: int
    location: GeoPoint
    grid_id: str
    skills: list[str] = []
    exclude: list[str] = []
    radii_km: list[float]
    preferred_steward: str | None = None
    # The case type, for industry stewards' coverage (``schemas.stewards.industries``); None in
    # requests of cases that ran before it was sent: no industry filter then.
    case_type: str | None = None
    # Since ``reserve-slice-v1``: the calendar request of the steward stage this offer
    # starts (its ``team`` left empty): the answer comes back for the reserved steward's
    # team with the assignment, one local activity instead of two per offer.
    team_slice: SliceRequest | None = None


class Assignment(BaseModel):
    """A steward reserved for a case."""

    steward_id: str
    name: str
    language: str
    grid_id: str
    distance_km: float
    attempt: int
    # Asked with ``DispatchRequest.team_slice``: the calendar for the team (``grid_id``),
    # or why the calendar could not answer (a year nobody loaded yet), as the calendar
    # activity would have failed.
    team_slice: SliceAnswer | None = None
    team_slice_error: str | None = None


class ReleaseRequest(BaseModel):
    """Give a steward's reserved capacity back (idempotent)."""

    case_id: str
    attempt: int
    steward_id: str


StewardMessageKind = Literal[
    "new_task",
    "confirm_task",
    "reminder",
    "reassigned",
    "case_closed",
    "case_cancelled",
    "rework",
    "verify_request",
    "report_resolved",  # to the steward who reported it (patch reporter-v1)
    "report_closed",
]


class StewardMessage(BaseModel):
    """A message to one steward through the chat-bot gateway."""

    case_id: str
    seq: int
    steward_id: str
    kind: StewardMessageKind
    attempt: int
    case_type: str
    location: GeoPoint
    description: str
    deadline: datetime | None = None
    # set when the deadline counts working time (``worktime-v1``): its limit, for the text
    # "due Monday 10:30 (8 working hours)"; None: a wall-clock deadline, shown as a time
    deadline_span: timedelta | None = None
    reason: str | None = None  # case_cancelled: the supervisor's reason
    merged_into: str | None = None  # case_cancelled: the case it was merged into, if merged


DepartmentMessageKind = Literal["new_case", "warning", "urge", "head_escalation", "rework"]


class DepartmentMessage(BaseModel):
    """A message to a department's system (or its inbox in the projection)."""

    case_id: str
    seq: int
    department: str
    kind: DepartmentMessageKind
    case_type: str
    priority: int
    location: GeoPoint
    description: str
    deadline: datetime | None = None
    deadline_span: timedelta | None = None  # as in StewardMessage
    evidence: list[Evidence] = []
