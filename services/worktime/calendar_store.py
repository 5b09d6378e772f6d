"""Loaded notices in the database, and the slices the case workflow asks for.

A year loaded from a file (CLI or supervisor route) wins over the package; a slice covers
the year of its start and the next, as far as either is known (``sources.build_slice``).
Loading a year never touches a running case: each case asks for a slice when a stage
starts, and the answer stays in its history (docs/working-time.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from schemas.worktime import TOWN_TZ, CalendarSlice, WorkingRules, YearSchedule
from schemas.worktime.sources import build_slice
from schemas.worktime.tables import NationalCalendarYear
from services.platform.db import SessionFactory


async def loaded_years(sessions: SessionFactory) -> dict[int, YearSchedule]:
    async with sessions() as session:
        rows = (await session.execute(select(NationalCalendarYear))).scalars().all()
    return {row.year: YearSchedule.model_validate(row.schedule) for row in rows}


async def store_year(sessions: SessionFactory, schedule: YearSchedule, loaded_by: str) -> bool:
    """Store (or replace) one year; True when it replaced an earlier load."""
    async with sessions() as session:
        row = await session.get(NationalCalendarYear, schedule.year)
        replaced = row is not None
        if row is None:
            row = NationalCalendarYear(
                year=schedule.year,
                schedule={},
                source="",
                loaded_by="",
                loaded_at=datetime.now(UTC),
            )
        row.schedule = schedule.model_dump(mode="json")
        row.source = schedule.source[:200]
        row.loaded_by = loaded_by[:140]
        row.loaded_at = datetime.now(UTC)
        session.add(row)
        await session.commit()
    return replaced


async def slice_at(sessions: SessionFactory, rules: WorkingRules, at: datetime) -> CalendarSlice:
    """The slice an office needs from ``at`` on: that town year and the next."""
    year = at.astimezone(TOWN_TZ).year
    return build_slice(rules, year, await loaded_years(sessions))
