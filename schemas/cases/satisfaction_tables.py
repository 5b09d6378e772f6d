"""The table of satisfaction ratings (``schemas.cases.satisfaction`` has the rules and bodies)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


class Satisfaction(SQLModel, table=True):
    """One rating of one closing of a case (a reopened case may be rated again once it
    closes again: ``closed_seq`` is the timeline position it was closed at)."""

    __tablename__ = "satisfaction"
    __table_args__ = (UniqueConstraint("case_id", "closed_seq", name="uq_satisfaction_closing"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(max_length=64, index=True)
    closed_seq: int
    reporter: str = Field(max_length=140)  # "role:id"
    rating: int
    satisfied: bool
    comment: str = Field(default="", max_length=1000)
    reopened: bool = False
    rated_at: datetime = Field(sa_type=DateTime(timezone=True))
