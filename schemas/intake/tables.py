"""Tables of intake: the devices allowed to report and what they reported, the merge registry
of machine reports, and the Open311 citizens' requests (their contact details)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from schemas.platform.tables import timestamp_field


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
