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
from services.worktime.rosters import TeamRosterBody, load_roster
from tests.support import grid_point, local_activities, open_case, place_stewards, wait_for
from tests.test_worktime_case import cancel, entries
from tests.worktime_cases import (  # noqa: F401  (clean_rosters: an autouse fixture)
    case_of,
    clean_rosters,
    emptied,
    skip_to,
    steward_grid,
    town,
)

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


async def test_an_offer_whose_team_calendar_cannot_answer_runs_on_the_wall_clock(
    env: WorkflowEnvironment,
    grids: GridIndex,
    sessions: SessionFactory,
    no_loaded_years: None,
) -> None:
    """``reserve-slice-v1``: the reservation brings the team's calendar; in a year nobody
    loaded its answer is the calendar's failure, and the offer says so and runs on."""
    year = last_known_year((await env.get_current_time()).astimezone(TOWN_TZ).year)
    moment = town(date(year + 1, 1, 5), 10)
    if await env.get_current_time() < moment:
        await skip_to(env, moment)
    at = grid_point(grids, "G061")
    (steward,) = await place_stewards(sessions, grids, at, 1)
    team = await steward_grid(sessions, steward)
    office = {"team": team, "days": "working_days", "periods": [{"start": "08:00", "end": "18:00"}]}
    await load_roster(sessions, TeamRosterBody.model_validate(office), "test", grids.grid_ids)

    handle = await open_case(env.client, case_of(grids, "street_vendor", at))
    offer = await wait_for(handle, lambda v: v.status == "dispatched" and v.deadline is not None)
    (dispatched,) = entries(offer, "dispatched")
    assert offer.steward_id == steward
    assert offer.deadline == dispatched + timedelta(minutes=15)  # PT15M to accept, wall clock
    (note,) = [e.note for e in offer.timeline if e.kind == "worktime_unavailable"]
    assert note is not None and "no national calendar" in note
    # the calendar came with the reservation: no calendar step of its own
    steps = await local_activities(handle)
    assert steps.count("reserve_nearest_steward") == 1 and "calendar_slice" not in steps
    await cancel(handle)
