"""Helpers shared by the device tests: the app over ASGI, test devices, polling."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from schemas.cases.views import CaseView
from schemas.platform.common import GeoPoint
from services.cases.operations import live_view
from services.intake.coalesce import detections_in
from services.intake.devices import register_device
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import count_rows, grid_point


@asynccontextmanager
async def app_client(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, on the test server and database, behind an ASGI transport."""
    app = create_app(settings, temporal=env.client, sessions=sessions)
    # these tests replay minutes of camera traffic in seconds; the limiter's own behaviour
    # (500 detections over 10 minutes pass, a flood gets 429) is tested with a moved clock
    # in tests/test_rate_limit.py
    app.state.rate_limiter.enabled = False
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gridplus", timeout=60
        ) as client:
            yield client


@pytest.fixture
async def api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """``app_client`` as a fixture, for the device tests that import it."""
    async with app_client(env, sessions, settings) as client:
        yield client


class Dev:
    """A registered test device and its key."""

    def __init__(self, device_id: str, key: str, at: GeoPoint) -> None:
        self.id, self.key, self.at = device_id, key, at

    def headers(self) -> dict[str, str]:
        return {"X-Device-Key": self.key}


async def device(
    sessions: SessionFactory,
    grids: GridIndex,
    grid_id: str,
    sensor_type: str | None = None,
    *,
    enterprise_id: str | None = None,
    device_id: str | None = None,
) -> Dev:
    at = grid_point(grids, grid_id)
    prefix = "CAM" if sensor_type is None else "SNS"
    device_id = device_id or f"T{prefix}-{uuid.uuid4().hex[:8]}"
    kind: Literal["camera", "sensor"] = "camera" if sensor_type is None else "sensor"
    key = await register_device(
        sessions, grids, device_id, kind, at, sensor_type=sensor_type,
        enterprise_id=enterprise_id, replace=True,
    )  # fmt: skip
    return Dev(device_id, key, at)


def now() -> datetime:
    return datetime.now(UTC)


def detection(
    kind: str = "illegal_parking",
    at: datetime | None = None,
    confidence: float = 0.93,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "detection_type": kind,
        "confidence": confidence,
        "detected_at": (at or now()).isoformat(),
        "snapshot_url": f"https://cams.example/snap/{uuid.uuid4().hex}.jpg",
        **extra,
    }


async def post(api: httpx.AsyncClient, dev: Dev, path: str, body: dict[str, Any]) -> httpx.Response:
    return await api.post(f"/devices/{dev.id}/{path}", json=body, headers=dev.headers())


async def live(env: WorkflowEnvironment, case_id: str) -> CaseView:
    view = await live_view(env.client, case_id)
    assert view is not None, f"case {case_id} is not running"
    return view


async def until(env: WorkflowEnvironment, case_id: str, check: Any, within: float = 30) -> CaseView:
    deadline = time.monotonic() + within
    while True:
        view = await live(env, case_id)
        if check(view):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"{case_id}: {view.status} {[e.kind for e in view.timeline]}")
        await asyncio.sleep(0.05)


async def wait_rows(sessions: SessionFactory, expected: int, sql: str, **params: Any) -> int:
    for _ in range(600):
        found = await count_rows(sessions, sql, **params)
        if found >= expected:
            return found
        await asyncio.sleep(0.05)
    return found


async def wait_no_rows(
    sessions: SessionFactory, sql: str, within: float = 10, **params: Any
) -> int:
    """``sql``'s count once it is 0, or what it still is after ``within`` seconds."""
    for _ in range(round(within / 0.05)):
        if not await count_rows(sessions, sql, **params):
            return 0
        await asyncio.sleep(0.05)
    return await count_rows(sessions, sql, **params)


async def assert_no_trace(sessions: SessionFactory, device_id: str) -> None:
    rows = "SELECT count(*) FROM detection WHERE device_id = :d"
    assert await count_rows(sessions, rows, d=device_id) == 0
    merges = "SELECT count(*) FROM intake_merge WHERE label LIKE :p"
    assert await count_rows(sessions, merges, p=f"%:{device_id}:%") == 0


def carried(view: CaseView) -> int:
    """How many detections a case holds: the scene's first is the filing's own evidence
    (it started the case), every later one came in an ``evidence_added`` (coalesced ones
    say how many they carry)."""
    filed = sum(bool(e.evidence) for e in view.timeline if e.kind == "filed")
    return filed + sum(detections_in(e.note) for e in view.timeline if e.kind == "evidence_added")
