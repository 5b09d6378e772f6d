"""Tables of the stewards and their chat: the roster, the capacity held per dispatch
attempt, and the chat-bot requests already answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from schemas.platform.tables import timestamp_field


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
