"""Database tables of joint safety inspection: the enterprise and inspector registries,
bookings, and the projection of inspections, findings and hazards, plus the enterprises'
own safety records. Like ``schemas.cases.tables``, written by idempotent activities and read by
lists and reports; the workflows are the source of truth.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from schemas.platform.tables import timestamp_field


class Enterprise(SQLModel, table=True):
    """An enterprise under safety supervision (one of the town's 494 manufacturers)."""

    __tablename__ = "enterprise"

    id: str = Field(primary_key=True, max_length=24)
    name: str = Field(max_length=200)
    grid_id: str = Field(max_length=64, index=True)
    lat: float
    lon: float
    industry: str = Field(max_length=40, index=True)
    risk_level: str = Field(max_length=8, index=True)  # high | medium | low
    hazardous_chemicals: bool = Field(default=False, index=True)
    contact_name: str = Field(default="", max_length=60)
    contact_phone: str = Field(default="", max_length=32)
    active: bool = True
    synthetic: bool = False
    updated_at: datetime | None = timestamp_field()


class Inspector(SQLModel, table=True):
    """A multi-skilled inspector (一员多能) and their visit calendar.

    ``booked_until`` is the end of their last booked visit; ``booking_version`` makes a
    booking one conditional ``UPDATE`` so two inspections can never take the same slot.
    """

    __tablename__ = "inspector"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=120)
    phone: str = Field(default="", max_length=32)
    grid_id: str = Field(max_length=64, index=True)
    qualifications: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    on_duty: bool = Field(default=True, index=True)
    booked_until: datetime | None = timestamp_field()
    booking_version: int = 0
    active_inspections: int = Field(default=0, ge=0)
    synthetic: bool = False


class InspectionBooking(SQLModel, table=True):
    """One visit slot booked for one assignment attempt of one inspection (idempotent)."""

    __tablename__ = "inspection_booking"
    __table_args__ = (UniqueConstraint("inspection_id", "attempt", name="uq_inspection_booking"),)

    id: int | None = Field(default=None, primary_key=True)
    inspection_id: str = Field(max_length=64, index=True)
    attempt: int
    inspector_id: str = Field(max_length=64, index=True)
    visit_at: datetime = Field(sa_type=DateTime(timezone=True))
    visit_end: datetime = Field(sa_type=DateTime(timezone=True))
    tier: int = 0
    active: bool = True
    created_at: datetime | None = timestamp_field()
    released_at: datetime | None = timestamp_field()


class InspectionRecord(SQLModel, table=True):
    """Projection of one joint inspection: its latest summary."""

    __tablename__ = "inspection_record"

    inspection_id: str = Field(primary_key=True, max_length=64)
    enterprise_id: str = Field(max_length=24, index=True)
    enterprise_name: str = Field(default="", max_length=200)
    grid_id: str = Field(max_length=64, index=True)
    risk_level: str | None = Field(default=None, max_length=8)
    campaign_id: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(max_length=16, index=True)
    inspector_id: str | None = Field(default=None, max_length=64, index=True)
    departments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    items_total: int = 0
    items_answered: int = 0
    hazards: int = 0
    critical: int = 0
    hazards_closed: int = 0
    created_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    visit_at: datetime | None = timestamp_field(index=True)
    visit_started_at: datetime | None = timestamp_field()
    visit_finished_at: datetime | None = timestamp_field(index=True)
    visit_minutes: int = 0
    deadline: datetime | None = timestamp_field()
    overdue: bool = Field(default=False, index=True)
    attempts: int = 0
    waiting_for: str = Field(default="", max_length=200)
    last_seq: int = 0
    updated_at: datetime | None = timestamp_field()


class InspectionFinding(SQLModel, table=True):
    """Projection of one item result of a visit; ``(inspection_id, item_code)`` is unique."""

    __tablename__ = "inspection_finding"
    __table_args__ = (
        UniqueConstraint("inspection_id", "item_code", name="uq_inspection_finding_item"),
    )

    id: int | None = Field(default=None, primary_key=True)
    inspection_id: str = Field(max_length=64, index=True)
    enterprise_id: str = Field(max_length=24, index=True)
    grid_id: str = Field(max_length=64, index=True)
    department: str = Field(max_length=40, index=True)
    item_code: str = Field(max_length=82)
    outcome: str = Field(max_length=8)  # pass | hazard
    answer: str | None = Field(default=None, max_length=40)
    severity: str | None = Field(default=None, max_length=8)
    source: str = Field(default="inspector", max_length=10)  # inspector | records
    note: str | None = Field(default=None, max_length=2000)
    evidence: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    inspector_id: str | None = Field(default=None, max_length=64)
    recorded_at: datetime | None = timestamp_field()
    rectification_id: str | None = Field(default=None, max_length=64)


class HazardRecord(SQLModel, table=True):
    """Projection of one hazard's rectification: its latest summary."""

    __tablename__ = "hazard_record"

    rectification_id: str = Field(primary_key=True, max_length=64)
    inspection_id: str = Field(max_length=64, index=True)
    enterprise_id: str = Field(max_length=24, index=True)
    grid_id: str = Field(max_length=64, index=True)
    department: str = Field(max_length=40, index=True)
    item_code: str = Field(max_length=82)
    answer: str = Field(max_length=40)
    severity: str = Field(max_length=8, index=True)
    status: str = Field(max_length=16, index=True)
    found_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    deadline: datetime | None = timestamp_field()
    overdue: bool = Field(default=False, index=True)
    escalated: bool = Field(default=False, index=True)
    rework_count: int = 0
    proof_count: int = 0
    waiting_for: str = Field(default="", max_length=200)
    closed_at: datetime | None = timestamp_field()
    hours_to_close: float | None = None
    last_seq: int = 0
    updated_at: datetime | None = timestamp_field()


class EnterpriseRecord(SQLModel, table=True):
    """A safety operation logged by the enterprise (hot work...) or seen by a device.

    ``(enterprise_id, client_key)`` makes a retried post from the enterprise app land once.
    Device observations with no matching enterprise record become findings.
    """

    __tablename__ = "enterprise_record"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "client_key", name="uq_enterprise_record_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    enterprise_id: str = Field(max_length=24, index=True)
    client_key: str = Field(max_length=128)
    kind: str = Field(max_length=16, index=True)
    source: str = Field(default="enterprise", max_length=12)  # enterprise | device
    started_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    ended_at: datetime | None = timestamp_field()
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))
    permit_no: str | None = Field(default=None, max_length=64)
    chemical: str | None = Field(default=None, max_length=100)
    quantity_kg: float | None = None
    place: str | None = Field(default=None, max_length=200)
    operator: str | None = Field(default=None, max_length=60)
    note: str | None = Field(default=None, max_length=2000)
    reported_by: str = Field(max_length=64)
