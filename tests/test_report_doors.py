"""Every location door converts the point it is given (GeoInput) before placement, and the
bot's report door refuses what it must: unsigned, unknown steward, photos not the steward's;
without a type it asks the steward to confirm one."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from schemas.cases.api import CreateCase
from schemas.platform.common import Evidence
from schemas.platform.coordinates import Crs, from_wgs84
from schemas.stewards.tables import Steward
from services.cases.operations import original_input
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.platform.requests import request_fingerprint
from settings import Settings
from tests.attachment_api_support import api_server, store_settings, upload
from tests.attachment_support import jpeg_bytes
from tests.device_support import app_client, detection, device, post
from tests.security_support import bearer, gateway_headers
from tests.support import grid_point, place_stewards, track

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


@pytest.fixture
async def base(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, tmp_path: Path
) -> AsyncIterator[str]:
    async with api_server(store_settings(settings, tmp_path / "store"), env.client, sessions) as b:
        yield b


async def signed_post(
    http: httpx.AsyncClient, url: str, secret: str, payload: dict[str, Any]
) -> httpx.Response:
    body = json.dumps(payload).encode()
    return await http.post(url, content=body, headers=gateway_headers(secret, body))


@pytest.mark.parametrize("crs", [Crs.BD09, Crs.GCJ02])
async def test_post_cases_converts_the_point_and_keeps_the_original(
    crs: Crs,
    env: WorkflowEnvironment,
    base: str,
    http: httpx.AsyncClient,
    settings: Settings,
    grids: GridIndex,
) -> None:
    at = grid_point(grids, "G040")
    lat, lon = from_wgs84(at.lat, at.lon, crs)
    sent = {"lat": lat, "lon": lon, "crs": crs.value}
    created = await http.post(
        f"{base}/cases",
        json={"case_type": "garbage", "location": sent},
        headers=bearer(settings, "citizen", f"c-{uuid.uuid4().hex[:8]}"),
    )
    assert created.status_code == 202, created.text
    case_id = track(created.json()["case_id"])
    assert created.json()["grid_id"] == "G040"
    inp = await original_input(env.client, case_id)
    assert abs(inp.location.lat - at.lat) < 1e-7 and abs(inp.location.lon - at.lon) < 1e-7
    assert inp.reported_location is not None
    assert inp.reported_location.model_dump(mode="json") == sent


async def test_a_presence_ping_in_gcj02_is_stored_in_wgs84(
    base: str, http: httpx.AsyncClient, settings: Settings, sessions: SessionFactory,
    grids: GridIndex,
) -> None:  # fmt: skip
    at = grid_point(grids, "G041")
    [steward] = await place_stewards(sessions, grids, at, 1)
    lat, lon = from_wgs84(at.lat, at.lon, Crs.GCJ02)
    ping = {
        "request_id": f"gw-{uuid.uuid4().hex}",
        "steward_id": steward,
        "kind": "location",
        "at": datetime.now(UTC).isoformat(),
        "location": {"lat": lat, "lon": lon, "crs": "gcj02"},
    }
    secret = settings.bot_secret.get_secret_value()
    answer = await signed_post(http, f"{base}/bot/presence", secret, ping)
    assert answer.status_code == 200 and answer.json()["location_applied"], answer.text
    async with sessions() as session:
        row = await session.get(Steward, steward)
    assert row is not None and row.lat is not None and row.lon is not None
    assert abs(row.lat - at.lat) < 1e-7 and abs(row.lon - at.lon) < 1e-7


async def test_the_report_door_refuses_and_asks_what_it_must(
    base: str, http: httpx.AsyncClient, settings: Settings, sessions: SessionFactory,
    grids: GridIndex,
) -> None:  # fmt: skip
    secret = settings.bot_secret.get_secret_value()
    at = grid_point(grids, "G042")
    [reporter, other] = await place_stewards(sessions, grids, at, 2, step_km=3.0)
    theirs = await upload(
        http, base, bearer(settings, "steward", other), [("x.jpg", jpeg_bytes(), "image/jpeg")]
    )
    assert theirs.status_code == 201
    report: dict[str, Any] = {
        "request_id": f"gw-{uuid.uuid4().hex}",
        "steward_id": reporter,
        "case_type": "illegal_parking",
        "location": {"lat": at.lat, "lon": at.lon},
        "attachment_ids": [theirs.json()["items"][0]["id"]],
    }
    unsigned = await http.post(f"{base}/bot/report", json=report)
    assert unsigned.status_code == 401
    stolen = await signed_post(http, f"{base}/bot/report", secret, report)
    assert (stolen.status_code, stolen.json()["fields"]) == (422, ["body.attachment_ids"])
    nobody = {**report, "request_id": f"gw-{uuid.uuid4().hex}", "steward_id": "NOBODY-1"}
    assert (await signed_post(http, f"{base}/bot/report", secret, nobody)).status_code == 403
    outside = {
        **report,
        "request_id": f"gw-{uuid.uuid4().hex}",
        "attachment_ids": [],
        "location": {"lat": 31.9, "lon": 121.9, "crs": "gcj02"},
    }
    far = await signed_post(http, f"{base}/bot/report", secret, outside)
    assert (far.status_code, far.json()["fields"]) == (422, ["body.location"])
    unsure = {
        "request_id": f"gw-{uuid.uuid4().hex}",
        "steward_id": reporter,
        "text": "路灯坏了，晚上很黑",
        "location": {"lat": at.lat, "lon": at.lon},
    }
    asked = await signed_post(http, f"{base}/bot/report", secret, unsure)
    assert asked.status_code == 200, asked.text
    assert asked.json()["result"] == "confirm_type" and asked.json()["case_id"] is None
    assert asked.json()["suggested_types"][0] == "street_lamp"
    assert "路灯故障" in asked.json()["message"]


def test_a_wgs84_report_without_photos_fingerprints_as_before() -> None:
    """A create retried across the upgrade with its Idempotency-Key must match the digest
    stored at its first try: the new fields stay out of the dump when unset."""
    body = CreateCase(
        case_type="garbage",
        location={"lat": 30.745, "lon": 120.487},
        evidence=[Evidence(kind="photo", url="https://img.example/1.jpg")],
    )
    dumped = body.model_dump_json()
    assert "crs" not in dumped and "attachment_id" not in dumped
    assert '"location":{"lat":30.745,"lon":120.487}' in dumped
    moved = CreateCase(
        case_type="garbage",
        location={"lat": 30.745, "lon": 120.487, "crs": "gcj02"},
    )
    assert request_fingerprint(moved) != request_fingerprint(body)


async def test_a_camera_detection_in_gcj02_is_converted_before_the_sight_check(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex, settings: Settings
) -> None:
    camera = await device(sessions, grids, "G043")
    lat, lon = from_wgs84(camera.at.lat, camera.at.lon, Crs.GCJ02)  # the mount, as AMap shows it
    async with app_client(env, sessions, settings) as api:
        naive = await post(api, camera, "detections", detection(location={"lat": lat, "lon": lon}))
        assert naive.status_code == 422  # read as WGS-84 it is ~500 m off: beyond sight
        sent = {"lat": lat, "lon": lon, "crs": "gcj02"}
        seen = await post(api, camera, "detections", detection(location=sent))
    assert seen.status_code == 202, seen.text
    case_id = track(seen.json()["case_id"])
    inp = await original_input(env.client, case_id)
    assert abs(inp.location.lat - camera.at.lat) < 1e-7 and inp.grid_id == "G043"
    assert inp.reported_location is not None and inp.reported_location.crs is Crs.GCJ02
