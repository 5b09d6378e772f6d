"""The national calendar years an operator loaded (the State Council's notice, as a file).

Why a table: the notice for next year comes out each autumn, often before the package has
it, and every worker must compute with the same year at once; a loaded year wins over the
package. Running cases read it only through the calendar activity, whose answer is in
their history, so a load changes the deadlines they compute from then on, never replay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


class NationalCalendarYear(SQLModel, table=True):
    """One loaded year: the validated ``YearSchedule`` as JSON, who loaded it and when."""

    __tablename__ = "national_calendar_year"

    year: int = Field(primary_key=True)
    schedule: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    source: str = Field(max_length=200)
    loaded_by: str = Field(max_length=140)
    loaded_at: datetime = Field(sa_type=DateTime(timezone=True))
