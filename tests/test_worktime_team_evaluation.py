"""Evaluation counts a steward stage in the acting team's own duty roster (issue 15).

Since ``worktime-v2`` a team (a grid's stewards) may have its own roster, and the workflow
counts its steward stages in it; the evaluation's stage durations do too: the named
steward's grid when the case names one, else the case's grid; the default roster for a
team without its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.worktime import TOWN_TZ
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.supervision.evaluation import CaseFacts
from services.supervision.working_time import measure_for, steward_teams
from services.worktime.rosters import TeamRosterBody, store_roster, validate_roster
from tests.support import grid_point, place_stewards
from tests.worktime_cases import clean_rosters  # noqa: F401  (an autouse fixture)


def fact(grid: str, steward_team: str | None = None) -> CaseFacts:
    keys: dict[str, str | None] = {
        "grid": grid,
        "department": "urban_management",
        "case_type": "illegal_parking",
        "steward": None,
    }
    if steward_team:
        keys["team"] = steward_team
    return CaseFacts(
        case_id="GP-EVAL-TEAM",
        keys=keys,
        status="closed",
        overdue=False,
        missed=False,
        reworked=False,
        checked=True,
        times={},
    )


async def test_a_steward_stage_counts_its_teams_own_duty_hours(
    sessions: SessionFactory, grids: GridIndex
) -> None:
    early = validate_roster(
        TeamRosterBody.model_validate(
            {"team": "G061", "days": "every_day", "periods": [{"start": "08:00", "end": "09:00"}]}
        ),
        grids.grid_ids,
    )
    await store_roster(sessions, "G061", early, "test-operator")
    start = datetime(2026, 12, 2, 7, 0, tzinfo=TOWN_TZ)  # a Wednesday, 07:00 to 10:00
    end = start + timedelta(hours=3)
    async with sessions() as session:
        measure = await measure_for(session, start, end)
    # the team's own roster: 08:00-09:00 is one hour of the three
    assert measure.seconds("steward", fact("G061"), start, end) == 3600
    # a team without its own keeps the default (07:00-22:00): all three hours
    assert measure.seconds("steward", fact("G062"), start, end) == 3 * 3600
    # the named steward's team wins over the case's grid
    assert measure.seconds("steward", fact("G062", steward_team="G061"), start, end) == 3600
    # other offices are not the team's: the department counts its office hours
    assert measure.seconds("department", fact("G061"), start, end) != 3600


async def test_a_named_stewards_team_is_their_grid(
    sessions: SessionFactory, grids: GridIndex
) -> None:
    placed = await place_stewards(sessions, grids, grid_point(grids, "G061"), 2)
    async with sessions() as session:
        teams = await steward_teams(session, {*placed, "NOBODY"})
    assert teams == {s: "G061" for s in placed}
