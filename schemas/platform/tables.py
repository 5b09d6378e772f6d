"""Tables every domain shares: the grids, the departments and the outbox of messages.

Grids place every case, inspection and steward; departments receive cases and inspection
reports; the outbox (``notification``) carries every message to a steward, a department or
an inspector, whichever domain wrote it. ``timestamp_field`` is the one way every domain's
tables declare a timestamp.
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


class DepartmentRow(SQLModel, table=True):
    """A functional department and where its own system can be reached."""

    __tablename__ = "department"

    code: str = Field(primary_key=True, max_length=40)
    name_zh: str = Field(max_length=60)
    name_en: str = Field(max_length=80)
    endpoint: str | None = Field(default=None, max_length=500)


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
