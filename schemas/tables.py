"""Database tables: the registries (grids, stewards, departments) and the case projection.

The workflow is the source of truth for where a case stands; ``case_record`` and
``case_event`` are a projection of it, written by idempotent activities and read by lists,
search and statistics. Unique keys (case id + sequence, case id + attempt, message key)
make every write safe to retry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable, index=index)


class Grid(SQLModel, table=True):
    """A grid (网格) or micro-grid (微网格) with its polygon as GeoJSON."""

    __tablename__ = "grid"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=120)
    level: str = Field(max_length=10, index=True)  # "grid" | "micro"
    parent_id: str | None = Field(default=None, max_length=64, index=True)
    community: str | None = Field(default=None, max_length=120)
    geometry: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    centroid_lat: float
    centroid_lon: float
    neighbours: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    synthetic: bool = True


class Steward(SQLModel, table=True):
    """A volunteer steward (乌镇管家): where they are, whether they are free."""

    __tablename__ = "steward"
    __table_args__ = (Index("ix_steward_free", "duty_state", "lat", "lon"),)

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=120)
    phone: str = Field(max_length=32)
    grid_id: str = Field(max_length=64, index=True)
    industry: str = Field(default="resident", max_length=40)
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    language: str = Field(default="zh", max_length=8)
    duty_state: str = Field(default="off_duty", max_length=12)  # on_duty | off_duty | busy
    capacity: int = Field(default=2, ge=0)
    active_tasks: int = Field(default=0, ge=0)
    lat: float | None = None
    lon: float | None = None
    location_at: datetime | None = _ts()
    synthetic: bool = True


class DepartmentRow(SQLModel, table=True):
    """A functional department and where its own system can be reached."""

    __tablename__ = "department"

    code: str = Field(primary_key=True, max_length=40)
    name_zh: str = Field(max_length=60)
    name_en: str = Field(max_length=80)
    endpoint: str | None = Field(default=None, max_length=500)


class Reservation(SQLModel, table=True):
    """One unit of a steward's capacity held for one dispatch attempt of one case."""

    __tablename__ = "reservation"
    __table_args__ = (UniqueConstraint("case_id", "attempt", name="uq_reservation_attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=64, index=True)
    attempt: int
    steward_id: str = Field(max_length=64, index=True)
    active: bool = True
    created_at: datetime | None = _ts()
    released_at: datetime | None = _ts()


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
    deadline: datetime | None = _ts()
    waiting_for: str = Field(default="", max_length=200)
    overdue: bool = Field(default=False, index=True)
    rework_count: int = 0
    urge_count: int = 0
    last_seq: int = 0
    updated_at: datetime | None = _ts()
    closed_at: datetime | None = _ts()


class CaseEvent(SQLModel, table=True):
    """Projection of one timeline entry; ``(case_id, seq)`` makes the write idempotent."""

    __tablename__ = "case_event"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_event_seq"),)

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


class Notification(SQLModel, table=True):
    """Every message sent to a steward or a department, keyed so a retry sends it once."""

    __tablename__ = "notification"

    key: str = Field(primary_key=True, max_length=200)
    channel: str = Field(max_length=16, index=True)  # bot | department
    recipient: str = Field(max_length=64, index=True)
    case_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=32)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime | None = _ts()
    delivered_at: datetime | None = _ts()
