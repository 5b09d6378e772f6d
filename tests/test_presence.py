"""Steward presence from the gateway moves the registry, and dispatch follows it."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.dispatch import DispatchActivities
from api.main import create_app
from schemas.common import GeoPoint
from schemas.dispatch import DispatchRequest
from schemas.tables import Steward
from services.db import SessionFactory
from services.geo import GridIndex
from services.tokens import sign_body
from settings import Settings
from tests.support import grid_point, place_stewards

pytestmark = pytest.mark.usefixtures("off_duty")


@pytest.fixture
async def gateway_api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[Any]:
    app = create_app(settings, temporal=env.client, sessions=sessions)
    secret = settings.bot_secret.get_secret_value()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gridplus") as client:

            async def post(event: dict[str, Any], sign_with: str = secret) -> httpx.Response:
                body = json.dumps(event).encode()
                stamp = str(int(time.time()))
                return await client.post(
                    "/bot/presence",
                    content=body,
                    headers={
                        "content-type": "application/json",
                        "x-gridplus-timestamp": stamp,
                        "x-gridplus-signature": sign_body(sign_with, stamp, body),
                    },
                )

            yield post


def at(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


async def test_presence_moves_duty_and_location_and_dispatch_follows(
    gateway_api: Any, sessions: SessionFactory, grids: GridIndex
) -> None:
    here = grid_point(grids, "G070")
    far = grid_point(grids, "G001")
    (near_id, other_id) = await place_stewards(sessions, grids, here, 2)
    post = gateway_api
    dispatch = DispatchActivities(sessions)
    request = DispatchRequest(
        case_id="PRES-1", attempt=1, location=here, grid_id="G070", radii_km=[1.0, 3.0, 10.0]
    )
    first = await ActivityEnvironment().run(dispatch.reserve_nearest_steward, request)
    assert first is not None and first.steward_id == near_id

    # the nearest steward checks out: the next case goes to the other one
    out = await post({"steward_id": near_id, "kind": "check_out", "at": at(0)})
    assert out.status_code == 200, out.text
    assert out.json()["duty_state"] == "off_duty"
    second = await ActivityEnvironment().run(
        dispatch.reserve_nearest_steward, request.model_copy(update={"case_id": "PRES-2"})
    )
    assert second is not None and second.steward_id == other_id

    # the other one's phone reports it has moved far away; an older ping cannot undo that
    moved = await post(
        {"steward_id": other_id, "kind": "location", "at": at(0), "location": far.model_dump()}
    )
    assert moved.json()["location_applied"] is True, moved.text
    stale = await post(
        {"steward_id": other_id, "kind": "location", "at": at(10), "location": here.model_dump()}
    )
    assert stale.json()["location_applied"] is False
    async with sessions() as session:
        row = await session.get(Steward, other_id)
        assert row is not None
        assert (row.lat, row.lon) == (far.lat, far.lon)

    back = await post(
        {
            "steward_id": near_id,
            "kind": "check_in",
            "at": at(0),
            "location": GeoPoint(lat=here.lat, lon=here.lon).model_dump(),
        }
    )
    assert back.json()["duty_state"] == "on_duty"


async def test_presence_refuses_forgery_and_nonsense(gateway_api: Any) -> None:
    post = gateway_api
    forged = await post(
        {"steward_id": "S0001", "kind": "check_in", "at": at(0)}, sign_with="not-the-secret"
    )
    assert forged.status_code == 401
    future = await post({"steward_id": "S0001", "kind": "check_in", "at": at(-60)})
    assert future.status_code == 422 and future.json()["fields"] == ["body.at"]
    ping = await post({"steward_id": "S0001", "kind": "location", "at": at(0)})
    assert ping.status_code == 422 and ping.json()["fields"] == ["body.location"]
    nobody = await post({"steward_id": "NOBODY", "kind": "check_in", "at": at(0)})
    assert nobody.status_code == 404
    naive = await post({"steward_id": "S0001", "kind": "check_in", "at": "2026-11-25T08:00:00"})
    assert naive.status_code == 422
