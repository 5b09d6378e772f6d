"""Past the calendar's horizon a case runs on, on the wall clock, and says so.

Its own module (its own time-skipping server): it skips to the last day of the last year the
package knows, which would leave the other modules' clocks past their holidays.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from schemas.worktime import TOWN_TZ
from schemas.worktime.sources import UnknownYearError, from_package
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.support import grid_point, open_case, wait_for
from tests.test_worktime_case import cancel, entries
from tests.worktime_cases import case_of, emptied, skip_to, town

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


@pytest.fixture
async def no_loaded_years(sessions: SessionFactory) -> AsyncIterator[None]:
    await emptied(sessions, "national_calendar_year")
    yield


def last_known_year(year: int) -> int:
    while True:
        try:
            from_package(year + 1)
        except UnknownYearError:
            return year
        year += 1


async def test_past_the_last_known_year_the_stage_runs_on_the_wall_clock(
    env: WorkflowEnvironment, grids: GridIndex, no_loaded_years: None
) -> None:
    year = last_known_year((await env.get_current_time()).astimezone(TOWN_TZ).year)
    eve = date(year, 12, 31)
    at = grid_point(grids, "G061")
    await skip_to(env, town(eve, 16))
    # 1.5 h left this year, the rest in a year nobody has loaded: the slice ends first
    late = await open_case(env.client, case_of(grids, "street_vendor", at, department_direct=True))
    stage = await wait_for(late, lambda v: v.deadline is not None and v.status == "escalated")
    (escalated,) = entries(stage, "escalated")
    assert stage.deadline == escalated + timedelta(hours=8)
    (note,) = [e.note for e in stage.timeline if e.kind == "worktime_unavailable"]
    assert note is not None and "past the calendar slice" in note

    # filed in the unknown year itself: the calendar activity cannot answer at all
    await skip_to(env, town(eve + timedelta(days=5), 10))
    unknown = await open_case(
        env.client, case_of(grids, "street_vendor", at, department_direct=True)
    )
    stage = await wait_for(unknown, lambda v: v.deadline is not None and v.status == "escalated")
    (escalated,) = entries(stage, "escalated")
    assert stage.deadline == escalated + timedelta(hours=8)
    (note,) = [e.note for e in stage.timeline if e.kind == "worktime_unavailable"]
    assert note is not None and "no national calendar" in note
    await cancel(late)
    await cancel(unknown)
