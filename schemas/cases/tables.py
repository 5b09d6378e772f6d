"""The case projection: ``case_record`` and ``case_event``.

The workflow is the source of truth for where a case stands; these tables are a projection
of it, written by idempotent activities and read by lists, search and statistics. Unique keys
(case id + sequence) make every write safe to retry. The tables of the other domains are in
their own packages (``schemas.platform.tables``, ``schemas.stewards.tables``,
``schemas.intake.tables``, ...); ``schemas.tables`` registers them all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from schemas.platform.tables import timestamp_field


class CaseRecord(SQLModel, table=True):
    """Projection of one case: its latest summary."""

    __tablename__ = "case_record"

    case_id: str = Field(primary_key=True, max_length=64)
    case_type: str = Field(max_length=40, index=True)
    status: str = Field(max_length=24, index=True)
    source: str = Field(max_length=16, index=True)
    priority: int
    grid_id: str = Field(max_length=64, index=True)
    micro_grid_id: str | None = Field(default=None, max_length=64)
    department: str = Field(max_length=40, index=True)
    handler: str = Field(max_length=12)
    steward_id: str | None = Field(default=None, max_length=64, index=True)
    lat: float
    lon: float
    description: str = Field(default="", max_length=2000)
    reported_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    deadline: datetime | None = timestamp_field()
    # the working-time limit the deadline counts, in seconds (None: wall clock), so the
    # queue and desk lists say "Thursday 15:30 (8 working hours)" like the case page
    deadline_span_s: int | None = None
    waiting_for: str = Field(default="", max_length=200)
    overdue: bool = Field(default=False, index=True)
    rework_count: int = 0
    urge_count: int = 0
    last_seq: int = 0
    updated_at: datetime | None = timestamp_field()
    closed_at: datetime | None = timestamp_field()


class CaseEvent(SQLModel, table=True):
    """Projection of one timeline entry; ``(case_id, seq)`` makes the write idempotent."""

    __tablename__ = "case_event"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_case_event_seq"),
        # the center queue's timeline buckets, answered from the index (migration 0024)
        Index("ix_case_event_kind_at", "kind", "at", "case_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=64, index=True)
    seq: int
    kind: str = Field(max_length=40, index=True)
    status: str = Field(max_length=24)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    actor_role: str | None = Field(default=None, max_length=16)
    actor_id: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)
    evidence: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    data: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
