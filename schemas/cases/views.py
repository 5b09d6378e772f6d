"""What is read of a case: its timeline, its summary (the projection row and the search
attributes), the live view the workflow's query answers, and its result.

Apart from the updates (``schemas.cases.workflow``) because the readers (pages, exports,
evaluation, the projector) need these and none of the action models.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from schemas.cases.workflow import CaseStatus
from schemas.platform.common import Actor, CaseSource, Evidence, GeoPoint


class TimelineEntry(BaseModel):
    """One transition of a case: what, who, when, with what evidence."""

    seq: int
    kind: str
    status: CaseStatus
    at: datetime
    actor: Actor | None = None
    note: str | None = None
    evidence: list[Evidence] = []
    data: dict[str, str] = {}


class CaseSummary(BaseModel):
    """Where a case stands: what the projection row and the search attributes hold."""

    case_id: str
    case_type: str
    status: CaseStatus
    source: CaseSource
    priority: int
    grid_id: str
    micro_grid_id: str | None
    department: str
    handler: Literal["steward", "department"]
    steward_id: str | None
    location: GeoPoint
    description: str
    reported_at: datetime
    deadline: datetime | None
    waiting_for: str
    overdue: bool
    rework_count: int
    urge_count: int
    # the limit a working-time deadline counts ("8 working hours"), for the pages (case,
    # queue, desk) to say it as people read it; None for a wall-clock deadline. Projected
    # (``case_record.deadline_span_s``) since the queue lists show it; left out of dumps
    # when unset, so summaries of wall-clock cases read as before.
    deadline_span: timedelta | None = Field(default=None, exclude_if=lambda value: value is None)


class CaseView(CaseSummary):
    """The live state of a case with its whole timeline, answered by the workflow's query."""

    timeline: list[TimelineEntry]


class CaseResult(BaseModel):
    """The workflow's result once the case has ended."""

    case_id: str
    status: Literal["closed", "cancelled"]
    ended_at: datetime
    rework_count: int
    events: int


class ProjectionBatch(BaseModel):
    """Timeline entries not yet projected, with the case's summary after the last one."""

    case: CaseSummary
    entries: list[TimelineEntry]
