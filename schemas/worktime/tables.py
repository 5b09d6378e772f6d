"""What an operator loaded: national calendar years (the State Council's notice, as a file)
and steward teams' own duty rosters (``TeamRoster``).

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


class TeamRoster(SQLModel, table=True):
    """One steward team's own duty roster (a grid's stewards): validated ``WorkingRules``.

    Why a table: rosters change with the season and the team, and every worker must use
    the same one at once; running cases read it only through the calendar activity (its
    answer in their history), so a load changes later steward deadlines, never replay.
    """

    __tablename__ = "team_roster"

    team: str = Field(primary_key=True, max_length=64)
    rules: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    loaded_by: str = Field(max_length=140)
    loaded_at: datetime = Field(sa_type=DateTime(timezone=True))
