"""Steward presence from the gateway moves the registry, and dispatch follows it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.stewards.dispatch import DispatchActivities
from api.main import create_app
from schemas.cases.dispatch import DispatchRequest
from schemas.platform.common import GeoPoint
from schemas.stewards.tables import Steward
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.security_support import gateway_headers
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

            async def post(
                event: dict[str, Any], sign_with: str = secret, signed_at: float | None = None
            ) -> httpx.Response:
                """Sign and post ``event`` (a fresh ``request_id`` unless it names one)."""
                event = {"request_id": f"pr-{uuid.uuid4().hex}", **event}
                body = json.dumps(event).encode()
                headers = gateway_headers(sign_with, body, signed_at=signed_at)
                return await client.post("/bot/presence", content=body, headers=headers)

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


async def test_a_captured_check_in_replayed_after_a_check_out_changes_nothing(
    gateway_api: Any, sessions: SessionFactory, grids: GridIndex
) -> None:
    """Issue 11 item 10: the same signed bytes again are answered from ``bot_request``."""
    (steward_id,) = await place_stewards(sessions, grids, grid_point(grids, "G071"), 1)
    post = gateway_api
    captured = {"request_id": f"pr-{uuid.uuid4().hex}", "steward_id": steward_id,
                "kind": "check_in", "at": at(1)}  # fmt: skip
    signed_at = time.time() - 60
    first = await post(captured, signed_at=signed_at)
    assert first.status_code == 200, first.text
    assert first.headers["x-gridplus-replayed"] == "false"
    out = await post({"steward_id": steward_id, "kind": "check_out", "at": at(0)})
    assert out.json()["duty_state"] == "off_duty"

    replay = await post(captured, signed_at=signed_at)  # byte for byte, signature valid
    assert replay.status_code == 200, replay.text
    assert replay.headers["x-gridplus-replayed"] == "true"
    assert replay.json() == first.json()  # the stored answer, not a new action
    async with sessions() as session:
        row = await session.get(Steward, steward_id)
        assert row is not None and row.duty_state == "off_duty"


async def test_a_duty_change_older_than_the_last_one_is_ignored(
    gateway_api: Any, sessions: SessionFactory, grids: GridIndex
) -> None:
    """A check-in that happened before the check-out (late, or re-signed) is not applied."""
    (steward_id,) = await place_stewards(sessions, grids, grid_point(grids, "G072"), 1)
    post = gateway_api
    out = await post({"steward_id": steward_id, "kind": "check_out", "at": at(0)})
    assert out.json()["duty_applied"] is True
    late = await post({"steward_id": steward_id, "kind": "check_in", "at": at(1)})
    assert late.status_code == 200, late.text
    assert late.json()["duty_applied"] is False
    assert late.json()["duty_state"] == "off_duty"
    # in another zone but earlier, all the same: times are compared as instants
    late_cst = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(timezone(timedelta(hours=8)))
    shifted = await post({"steward_id": steward_id, "kind": "busy", "at": late_cst.isoformat()})
    assert shifted.json()["duty_applied"] is False
    newer = await post({"steward_id": steward_id, "kind": "check_in", "at": at(-0.1)})
    assert newer.json()["duty_applied"] is True and newer.json()["duty_state"] == "on_duty"


async def test_a_request_id_is_once_only_and_required(
    gateway_api: Any, sessions: SessionFactory, grids: GridIndex
) -> None:
    (steward_id,) = await place_stewards(sessions, grids, grid_point(grids, "G073"), 1)
    post = gateway_api
    request_id = f"pr-{uuid.uuid4().hex}"
    first = await post({"request_id": request_id, "steward_id": steward_id,
                        "kind": "busy", "at": at(0)})  # fmt: skip
    assert first.status_code == 200, first.text
    other = await post({"request_id": request_id, "steward_id": steward_id,
                        "kind": "check_in", "at": at(0)})  # fmt: skip
    assert other.status_code == 409, other.text
    async with sessions() as session:
        row = await session.get(Steward, steward_id)
        assert row is not None and row.duty_state == "busy"
    body = json.dumps({"steward_id": steward_id, "kind": "check_in", "at": at(0)})
    missing = await post({**json.loads(body), "request_id": ""})
    assert missing.status_code == 422 and missing.json()["fields"] == ["body.request_id"]
