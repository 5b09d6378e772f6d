"""Helpers for the working-time case tests: a catalog with office hours, cases of it, and a
real State Council holiday pattern moved onto the days ahead of the test server's clock.

Why moved: the time-skipping server starts at today's time and only skips forward, and the
package knows no notice after the last one it has; the 2025 National Day holiday (eve Tue
30 Sep, off Wed 1 - Wed 8 Oct, make-up Sun 28 Sep and Sat 11 Oct) is laid onto the next
Tuesday with room for it, every weekday kept, and loaded as an operator would load a year.
``test_the_moved_holiday_counts_like_the_real_one`` pins that it gives the same deadlines.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from schemas.cases.api import CreateCase
from schemas.cases.catalog import Catalog, load_catalog
from schemas.cases.workflow import OpenCaseInput
from schemas.platform.common import GeoPoint
from schemas.stewards.tables import Steward
from schemas.worktime import TOWN_TZ, YearSchedule
from schemas.worktime.policy import load_office_hours
from schemas.worktime.sources import UnknownYearError, from_package
from services.cases.filing import build_case_input
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.support import REPORTER

REAL_EVE = date(2025, 9, 30)
REAL_OFF = [REAL_EVE + timedelta(days=n) for n in range(1, 9)]
REAL_MAKE_UP = [date(2025, 9, 28), date(2025, 10, 11)]


def working_catalog() -> Catalog:
    """The shipped catalog with the shipped office hours (as production runs it)."""
    return load_catalog().model_copy(update={"hours": load_office_hours()})


def case_of(
    grids: GridIndex, case_type: str, at: GeoPoint, *, department_direct: bool = False
) -> OpenCaseInput:
    case_id = "GP-W" + uuid.uuid4().hex[:12].upper()
    inp = build_case_input(
        CreateCase(case_type=case_type, location=at, description="working time"),
        REPORTER,
        case_id,
        working_catalog(),
        grids,
    )
    if not department_direct:
        return inp
    case_type_ = inp.policy.case_type.model_copy(update={"path": "department_direct"})
    policy = inp.policy.model_copy(update={"case_type": case_type_})
    return inp.model_copy(update={"policy": policy})


def base_year(year: int) -> YearSchedule:
    try:
        return from_package(year)
    except UnknownYearError:
        return YearSchedule(year=year, holidays=[date(year, 1, 1)], source="test")


def with_days(
    year: YearSchedule,
    holidays: list[date],
    workdays: tuple[date, ...] | list[date] = (),
    source: str = "test",
) -> YearSchedule:
    """The year with more holidays and make-up days (those it had stay, unless overridden)."""
    off = sorted((set(year.holidays) - set(workdays)) | set(holidays))
    on = sorted((set(year.workdays) - set(holidays)) | set(workdays))
    return YearSchedule(year=year.year, holidays=off, workdays=on, source=source)


def moved_national_day(after: datetime) -> tuple[date, YearSchedule]:
    """The eve (a Tuesday) and the year schedule with the holiday moved there."""
    day = after.astimezone(TOWN_TZ).date() + timedelta(days=3)
    while not (
        day.weekday() == 1 and (day - timedelta(days=2)).year == (day + timedelta(days=11)).year
    ):
        day += timedelta(days=1)
    shift = day - REAL_EVE
    schedule = with_days(
        base_year(day.year),
        [d + shift for d in REAL_OFF],
        [d + shift for d in REAL_MAKE_UP],
        source="2025 National Day, moved",
    )
    return day, schedule


def town(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOWN_TZ)


async def skip_to(env: WorkflowEnvironment, moment: datetime) -> None:
    """Move the time-skipping server to ``moment`` (it cannot go back)."""
    now = await env.get_current_time()
    assert moment > now, f"{moment} is in the test server's past ({now})"
    await env.sleep(moment - now)


async def emptied(sessions: SessionFactory, table: str) -> None:
    """Delete every row a test loaded into ``table`` (calendars, rosters), so none leaks."""
    async with sessions() as session:
        await session.execute(text(f"DELETE FROM {table}"))
        await session.commit()


@pytest.fixture(autouse=True)
async def clean_rosters(sessions: SessionFactory) -> AsyncIterator[None]:
    """Every team roster a test loaded is dropped after it (autouse where imported)."""
    yield
    await emptied(sessions, "team_roster")


async def steward_grid(sessions: SessionFactory, steward_id: str) -> str:
    """A steward's grid: the team whose roster counts for them."""
    async with sessions() as session:
        steward = await session.get(Steward, steward_id)
    assert steward is not None
    return steward.grid_id
