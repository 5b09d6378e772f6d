"""Industry stewards are offered the case types their trade covers, beside grid stewards
(``schemas.stewards.industries``): the production worker on the Temporal test server, the test
database, dispatch through the real index."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from schemas.stewards.industries import covers
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.support import case_input, grid_point, open_case, place_stewards, wait_for

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


def test_grid_stewards_cover_everything_and_trades_their_own() -> None:
    assert covers("resident", "smoke_alarm") and covers("retiree", "illegal_parking")
    assert covers("taxi", "illegal_parking") and not covers("taxi", "garbage")
    assert covers("homestay", "smoke_alarm") and covers("catering", "garbage")
    assert not covers("catering", "red_light_running")
    assert covers("taxi", None)  # a request from a case that ran before the type was sent


@pytest.mark.parametrize(
    ("case_type", "expected"), [("illegal_parking", "taxi"), ("garbage", "resident")]
)
async def test_the_nearest_steward_whose_trade_covers_the_type_is_offered_it(
    case_type: str,
    expected: str,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    at = grid_point(grids, "G055")
    [driver, resident] = await place_stewards(sessions, grids, at, 2)  # driver is nearer
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE steward SET industry = 'taxi', updated_at = :now WHERE id = :s"),
            {"s": driver, "now": datetime.now(UTC)},
        )
    handle = await open_case(env.client, case_input(grids, case_type, at))
    view = await wait_for(handle, lambda v: v.steward_id is not None)
    assert view.steward_id == {"taxi": driver, "resident": resident}[expected]
