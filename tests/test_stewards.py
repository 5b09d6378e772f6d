"""Steward roster import and capacity under concurrent dispatch (real DB, real Temporal)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.stewards.dispatch import DispatchActivities
from api.main import create_app
from api.security import issue_token
from schemas.cases.dispatch import DispatchRequest
from schemas.platform.common import Actor, GeoPoint
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import (
    active_tasks,
    case_input,
    count_rows,
    grid_point,
    open_case,
    place_stewards,
    view,
)

pytestmark = pytest.mark.usefixtures("off_duty")

CSV_OK = """id,name,phone,grid_id,industry,skills,languages,capacity
IMP-1,王小明,13900000001,G017,taxi,traffic;mediation,zh,2
IMP-2,Anna Li,+86 139 0000 0002,G018,hotel,,en;zh,1
"""
CSV_BAD = """id,name,phone,grid_id,industry,skills,languages,capacity
IMP-3,张三,not-a-phone,G017,taxi,traffic,zh,2
IMP-4,李四,13900000004,G999,shop,,zh,2
IMP-5,赵五,13900000005,G017,shop,juggling,zh,2
"""


@pytest.fixture
async def api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal=env.client, sessions=sessions)
    token = issue_token(
        settings.api_token_secret.get_secret_value(), Actor(role="supervisor", id="wang")
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://gridplus",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            yield client


async def test_import_csv_all_or_nothing_and_reimport_keeps_duty_state(
    api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    bad = await api.post("/stewards/import", content=CSV_BAD, headers={"content-type": "text/csv"})
    assert bad.status_code == 422
    assert set(bad.json()["fields"]) >= {"rows[1].phone", "rows[3].skills"}
    assert await count_rows(sessions, "SELECT count(*) FROM steward WHERE id LIKE 'IMP-%'") == 0
    unknown_grid = CSV_BAD.splitlines()[0] + "\n" + CSV_BAD.splitlines()[2] + "\n"
    bad_grid = await api.post(
        "/stewards/import", content=unknown_grid, headers={"content-type": "text/csv"}
    )
    assert bad_grid.status_code == 422
    assert bad_grid.json()["fields"] == ["rows[1].grid_id"]

    created = await api.post(
        "/stewards/import", content=CSV_OK, headers={"content-type": "text/csv"}
    )
    assert created.status_code == 200, created.text
    assert created.json() == {"created": 2, "updated": 0}
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE steward SET duty_state='on_duty' WHERE id='IMP-1'"))
    renamed = CSV_OK.replace("王小明", "王晓明")
    again = await api.post(
        "/stewards/import", content=renamed, headers={"content-type": "text/csv"}
    )
    assert again.json() == {"created": 0, "updated": 2}
    roster = (await api.get("/stewards", params={"grid_id": "G017", "limit": 1000})).json()
    imported = {s["id"]: s for s in roster["items"] if s["id"].startswith("IMP-")}
    assert imported["IMP-1"]["name"] == "王晓明"
    assert imported["IMP-1"]["duty_state"] == "on_duty"  # live state survives a re-import
    assert imported["IMP-1"]["skills"] == ["traffic", "mediation"]

    as_json = await api.post(
        "/stewards/import",
        json=[
            {
                "id": "IMP-9",
                "name": "钱九",
                "phone": "13900000009",
                "grid_id": "G020",
                "languages": ["en"],
            }
        ],
    )
    assert as_json.json() == {"created": 1, "updated": 0}
    odd = await api.post(
        "/stewards/import", content=b"<xml/>", headers={"content-type": "application/xml"}
    )
    assert odd.status_code == 415


async def test_concurrent_reservations_never_overbook(
    sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G026")
    stewards = await place_stewards(sessions, grids, at, 3, capacity=2)
    dispatch = DispatchActivities(sessions)
    activity = ActivityEnvironment()

    async def reserve(n: int) -> str | None:
        request = DispatchRequest(
            case_id=f"CONC-{n}", attempt=1, location=at, grid_id="G026", radii_km=[1.0, 3.0]
        )
        result = await activity.run(dispatch.reserve_nearest_steward, request)
        return result.steward_id if result else None

    results = await asyncio.gather(*(reserve(n) for n in range(40)))
    booked = [r for r in results if r is not None]
    assert len(booked) == 6
    assert {s: booked.count(s) for s in stewards} == dict.fromkeys(stewards, 2)
    for s in stewards:
        assert await active_tasks(sessions, s) == 2
    # a retried activity for the same attempt returns the same steward, books nothing new
    again = await reserve(0)
    assert again == results[0]
    assert sum([await active_tasks(sessions, s) for s in stewards]) == 6


@pytest.mark.usefixtures("worker")
async def test_many_cases_at_once_respect_capacity(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G083")
    stewards = await place_stewards(sessions, grids, at, 4, capacity=2)
    handles = await asyncio.gather(
        *(
            open_case(env.client, case_input(grids, "garbage", GeoPoint(lat=at.lat, lon=at.lon)))
            for _ in range(20)
        )
    )

    async def settled() -> list[str]:
        for _ in range(400):
            states: list[str] = [(await view(h)).status for h in handles]
            if all(s in ("dispatched", "escalated") for s in states):
                return states
            await asyncio.sleep(0.05)
        raise AssertionError(f"not settled: {states}")

    states = await settled()
    assert states.count("dispatched") == 8  # 4 stewards x capacity 2
    loads = [await active_tasks(sessions, s) for s in stewards]
    assert loads == [2, 2, 2, 2]
    views = [await view(h) for h in handles]
    offered = [v.steward_id or "" for v in views if v.status == "dispatched"]
    assert sorted(offered) == sorted(stewards * 2)


async def test_retried_reservation_with_room_left_returns_the_first_booking(
    sessions: SessionFactory, grids: GridIndex
) -> None:
    """A retry finds stewards with room again; its own booking must roll back, not add one."""
    at = grid_point(grids, "G027")
    stewards = await place_stewards(sessions, grids, at, 2, capacity=3)
    dispatch = DispatchActivities(sessions)
    activity = ActivityEnvironment()
    request = DispatchRequest(
        case_id="RETRY-1", attempt=1, location=at, grid_id="G027", radii_km=[1.0, 3.0]
    )
    first = await activity.run(dispatch.reserve_nearest_steward, request)
    again = await activity.run(dispatch.reserve_nearest_steward, request)
    assert first is not None and again is not None
    assert again.steward_id == first.steward_id
    assert again.language == first.language
    assert [await active_tasks(sessions, s) for s in stewards].count(1) == 1
    assert sum([await active_tasks(sessions, s) for s in stewards]) == 1
