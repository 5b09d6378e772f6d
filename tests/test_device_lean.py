"""The lean door of ``POST /devices/{id}/detections`` (``api.device_lean``) answers as the route.

``tests/test_devices.py`` is the contract, run through the whole app (so through the lean
door). Here: that the door really serves good posts itself and hands the rest to the
FastAPI route, and that what it answers is byte for byte what the route answers (the route
is reached with an ``application/merge-patch+json`` body, which it parses as JSON and the
lean door leaves to it).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send
from temporalio.testing import WorkflowEnvironment

from api.device_lean import LeanDetections
from api.main import create_app
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import Dev, api, detection, device, now
from tests.support import track

__all__ = ["api"]  # a fixture, imported
pytestmark = pytest.mark.usefixtures("worker", "off_duty")
ROUTE = "application/merge-patch+json"  # JSON to the route, not the lean door's


async def send(
    api: httpx.AsyncClient, dev: Dev, body: dict[str, Any], content_type: str = "application/json"
) -> httpx.Response:
    return await api.post(
        f"/devices/{dev.id}/detections",
        content=json.dumps(body).encode(),
        headers=dev.headers() | {"Content-Type": content_type},
    )


def same(lean: httpx.Response, route: httpx.Response) -> None:
    assert lean.status_code == route.status_code, (lean.text, route.text)
    assert lean.content == route.content
    for name in ("content-type", "content-length", "retry-after", "www-authenticate"):
        assert lean.headers.get(name) == route.headers.get(name), name


async def test_a_retried_detection_is_answered_the_same_by_both_doors(
    api: httpx.AsyncClient, sessions: SessionFactory, grids: GridIndex
) -> None:
    camera = await device(sessions, grids, "G031")
    body = detection("street_vendor", confidence=0.2, event_id="lean-0001")
    first = await send(api, camera, body)
    assert first.status_code == 202, first.text
    assert first.json()["outcome"] == "below_threshold"
    same(await send(api, camera, body), await send(api, camera, body, ROUTE))
    opened = await send(api, camera, detection("street_vendor", event_id="lean-0002"))
    assert opened.status_code == 202 and opened.json()["outcome"] == "opened", opened.text
    track(opened.json()["case_id"])
    body = detection("street_vendor", event_id="lean-0002")
    same(await send(api, camera, body), await send(api, camera, body, ROUTE))


async def test_refusals_of_the_lean_door_are_the_routes(
    api: httpx.AsyncClient, sessions: SessionFactory, grids: GridIndex
) -> None:
    camera = await device(sessions, grids, "G032")
    sensor = await device(sessions, grids, "G033", "street_lamp")
    wrong_key = Dev(camera.id, "y" * 43, camera.at)
    beyond = detection(location={"lat": 31.5, "lon": 121.4})
    future = detection(at=now() + timedelta(minutes=10))
    for dev, body, status in [
        (wrong_key, detection(), 401),
        (sensor, detection(), 403),
        (camera, beyond, 422),
        (camera, future, 422),
        (camera, detection("ufo_sighting"), 422),
    ]:
        lean = await send(api, dev, body)
        assert lean.status_code == status, lean.text
        same(lean, await send(api, dev, body, ROUTE))


async def test_good_posts_are_served_by_the_lean_door_and_the_rest_by_the_route(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, grids: GridIndex
) -> None:
    camera = await device(sessions, grids, "G034")
    app = create_app(settings, temporal=env.client, sessions=sessions)
    routed: list[str] = []

    async def route(scope: Scope, receive: Receive, send_: Send) -> None:
        routed.append(scope["path"])
        await app(scope, receive, send_)  # the whole app: its own door hands it on again

    lean = LeanDetections(route)

    async def door(scope: Scope, receive: Receive, send_: Send) -> None:
        if scope["type"] == "http":
            scope["app"] = app
        await lean(scope, receive, send_)

    async with app.router.lifespan_context(app):
        assert isinstance(app, FastAPI)
        transport = httpx.ASGITransport(app=door)
        async with httpx.AsyncClient(transport=transport, base_url="http://gridplus") as client:
            low = detection("street_vendor", confidence=0.1)
            served = await send(client, camera, low)
            assert served.status_code == 202 and routed == [], served.text
            bad = await client.post(
                f"/devices/{camera.id}/detections",
                content=b'{"confidence": ',
                headers=camera.headers() | {"Content-Type": "application/json"},
            )
            assert bad.status_code == 422 and bad.json()["fields"] == ["body.15"], bad.text
            missing = detection() | {"extra": 1}
            refused = await send(client, camera, missing)
            assert refused.status_code == 422 and "body.extra" in refused.json()["fields"]
            keyless = await client.post(f"/devices/{camera.id}/detections", json=low)
            assert keyless.status_code == 401
            path = f"/devices/{camera.id}/detections"
            assert routed == [path] * 3


def _served(metrics: str, route: str) -> float:
    """``gridplus_http_requests_total`` of ``POST route`` answered 202."""
    line = f'gridplus_http_requests_total{{method="POST",route="{route}",status="202"}} '
    return sum(float(row.split()[-1]) for row in metrics.splitlines() if row.startswith(line))


async def test_the_metrics_see_the_lean_doors_posts_as_the_route(
    api: httpx.AsyncClient, sessions: SessionFactory, grids: GridIndex
) -> None:
    camera = await device(sessions, grids, "G034")
    route = "/devices/{device_id}/detections"
    before = _served((await api.get("/metrics")).text, route)
    answered = await send(api, camera, detection("street_vendor", confidence=0.1))
    assert answered.status_code == 202, answered.text
    metrics = (await api.get("/metrics")).text
    assert _served(metrics, route) == before + 1  # not counted as "unmatched"
