"""Database tables: the registries (grids, stewards, departments) and the case projection.

The workflow is the source of truth for where a case stands; ``case_record`` and
``case_event`` are a projection of it, written by idempotent activities and read by lists,
search and statistics. Unique keys (case id + sequence, case id + attempt, message key)
make every write safe to retry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

# Registered on the same metadata as every table here (Alembic's autogenerate, test resets).
from schemas.attachments.tables import Attachment as Attachment
from schemas.cases.satisfaction_tables import Satisfaction as Satisfaction


def timestamp_field(nullable: bool = True, index: bool = False) -> Any:
    """A timezone-aware timestamp column (the same on SQLite and PostgreSQL)."""
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
    location_at: datetime | None = timestamp_field()
    updated_at: datetime | None = timestamp_field(index=True)
    # When the duty change now in ``duty_state`` happened (the gateway's ``at``): an older
    # check-in/out arriving late (or replayed) cannot undo a newer one (services.stewards.presence).
    duty_changed_at: datetime | None = timestamp_field()
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
    created_at: datetime | None = timestamp_field()
    released_at: datetime | None = timestamp_field()


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


class Notification(SQLModel, table=True):
    """Every message to a steward, a department, an inspector: the outbox, FIFO per recipient.

    ``position`` is the message's place in the outbox, given by the database when the row is
    inserted (an auto-increment integer primary key: a rowid alias on SQLite, an identity
    column on PostgreSQL); ``key`` (case, timeline position, kind, recipient) stays unique,
    so a retried write stores the message once. A recipient's pending messages are those
    with ``delivered_at`` unset, sent in ``position`` order (``activities.messaging.delivery``); the
    partial index covers exactly that lookup and stays as small as the backlog.
    """

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("key", name="uq_notification_key"),
        Index(
            "ix_notification_pending",
            "channel",
            "recipient",
            "position",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    position: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"),  # INTEGER PRIMARY KEY = rowid
            Identity(),
            primary_key=True,
        ),
    )
    key: str = Field(max_length=200)
    channel: str = Field(max_length=16, index=True)  # bot | department | inspector | ...
    recipient: str = Field(max_length=64, index=True)
    case_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=32)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime | None = timestamp_field()
    delivered_at: datetime | None = timestamp_field()


class BotRequest(SQLModel, table=True):
    """A chat-bot callback already answered: a replayed ``request_id`` gets ``answer`` again.

    Written in the same request that acts on the workflow, so a gateway that retries (or an
    attacker who replays a captured request) can never make one button press act twice.
    ``received_at`` is indexed so that old ids can be pruned past any replay window.
    """

    __tablename__ = "bot_request"

    request_id: str = Field(primary_key=True, max_length=128)
    steward_id: str = Field(max_length=64, index=True)
    case_id: str = Field(max_length=64, index=True)
    action: str = Field(max_length=16)
    received_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    answer: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class Device(SQLModel, table=True):
    """An AI edge camera or an IoT sensor allowed to report, and where it is mounted.

    Only a SHA-256 of the device's key is kept: keys are long random strings minted at
    registration (not human passwords), so a fast hash is enough and a stolen table holds
    nothing a device could post with.
    """

    __tablename__ = "device"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=10, index=True)  # camera | sensor
    sensor_type: str | None = Field(default=None, max_length=40)
    label: str = Field(default="", max_length=120)
    lat: float
    lon: float
    grid_id: str = Field(max_length=64, index=True)
    # the enterprise whose operations it watches (the only one it may report on); None: a
    # town device, bound to its grid, which reports cases but no enterprise's records
    enterprise_id: str | None = Field(default=None, max_length=24, index=True)
    key_hash: str = Field(max_length=64)
    active: bool = True
    synthetic: bool = False
    created_at: datetime | None = timestamp_field()


class Detection(SQLModel, table=True):
    """Every report a device made (camera detection, sensor alarm or recovery), kept for audit.

    ``(device_id, event_id)`` is unique, so a device that retries a post gets the first
    answer back and its report is counted once. ``outcome`` says what it did: opened or
    merged into ``case_id``, only recorded (below the confidence threshold, or the case holds
    enough evidence), or a recovery.
    """

    __tablename__ = "detection"
    __table_args__ = (UniqueConstraint("device_id", "event_id", name="uq_detection_event"),)

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=64, index=True)
    event_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)  # detection | alarm | recovery
    detection_type: str = Field(max_length=40)
    case_type: str = Field(max_length=40)
    confidence: float | None = None
    occurred_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    received_at: datetime = Field(sa_type=DateTime(timezone=True))
    lat: float
    lon: float
    snapshot_url: str | None = Field(default=None, max_length=2048)
    plate: str | None = Field(default=None, max_length=16)
    value: float | None = None
    outcome: str = Field(max_length=20, index=True)
    case_id: str | None = Field(default=None, max_length=64, index=True)
    # Coalescing (migration 0021, ``services.intake.coalesce``): ``pending`` until the update
    # carrying it reached the case; ``batch_id`` is that update's id once a flusher claimed it.
    pending: bool = Field(default=False)
    batch_id: str | None = Field(default=None, max_length=64)
    batch_at: datetime | None = timestamp_field()


class IntakeMerge(SQLModel, table=True):
    """Which case a stream of machine reports currently merges into (see services.intake.merge).

    One row per merge key (camera + type + place cell, or sensor + type). The case id is
    derived from ``(merge_key, generation)``; ``generation`` only moves forward, by a
    compare-and-set, when the case has ended or the burst has gone quiet.
    """

    __tablename__ = "intake_merge"

    merge_key: str = Field(primary_key=True, max_length=64)
    label: str = Field(max_length=200)
    generation: int
    opener: str = Field(max_length=128)
    last_at: datetime = Field(sa_type=DateTime(timezone=True))
    recovered_at: datetime | None = timestamp_field()
    full: bool = False


class Open311Request(SQLModel, table=True):
    """A citizen's Open311 service request: the contact details stay here, out of the case.

    The case (``service_request_id`` is its id) carries no personal data: a workflow's
    history cannot be edited, this row can be erased on request.
    """

    __tablename__ = "open311_request"

    service_request_id: str = Field(primary_key=True, max_length=64)
    token: str = Field(max_length=64, unique=True)
    client_id: str = Field(max_length=64, index=True)
    service_code: str = Field(max_length=40, index=True)
    requested_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    lat: float
    lon: float
    address_string: str | None = Field(default=None, max_length=300)
    description: str = Field(default="", max_length=2000)
    media_url: str | None = Field(default=None, max_length=2048)
    email: str | None = Field(default=None, max_length=254)
    device_id: str | None = Field(default=None, max_length=64)
    account_id: str | None = Field(default=None, max_length=64)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
