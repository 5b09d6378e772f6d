"""Issue 16's must-show: a steward reports through the chat bot and hears back.

Real servers throughout: the API under uvicorn on a loopback port, the production worker on
the Temporal test server, the test database, photos in a folder store, and the chat-bot
gateway as ``tools.fake_gateway`` (a real HTTP server) that both receives our messages and
signs what it posts. The report's point is read in GCJ-02, as WeCom/DingTalk/AMap give it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from constants import case_workflow_id
from schemas.platform.common import GeoPoint
from schemas.platform.coordinates import wgs84_to_gcj02
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.attachment_api_support import api_server, rows_by, store_settings
from tests.attachment_support import blobs_under, jpeg_bytes, multipart_files, phone_exif
from tests.security_support import bearer, gateway_headers
from tests.support import place_stewards, save_history, track, wait_for
from tools.fake_gateway import FakeGateway
from worker import build_worker

pytestmark = pytest.mark.usefixtures("worker", "off_duty")

QUEUE = "gridplus-test-bot-report"


@pytest.fixture(scope="module")
async def gateway(settings: Settings) -> AsyncIterator[FakeGateway]:
    async with FakeGateway(settings.bot_secret.get_secret_value()) as fake:
        yield fake


@pytest.fixture(scope="module")
async def report_worker(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    settings: Settings,
    gateway: FakeGateway,
) -> AsyncIterator[Worker]:
    mine = settings.model_copy(update={"bot_gateway_url": gateway.url, "task_queue": QUEUE})
    async with build_worker(env.client, sessions, http, mine, task_queue=QUEUE) as w:
        yield w


@pytest.fixture
async def base(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    settings: Settings,
    gateway: FakeGateway,
    report_worker: Worker,
    tmp_path: Path,
) -> AsyncIterator[str]:
    mine = store_settings(
        settings, tmp_path / "store", bot_gateway_url=gateway.url, task_queue=QUEUE
    )
    async with api_server(mine, env.client, sessions) as url:
        yield url


async def post_report(
    http: httpx.AsyncClient, base: str, secret: str, payload: dict[str, Any]
) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = gateway_headers(secret, body)
    return await http.post(f"{base}/bot/report", content=body, headers=headers)


def misplaced_point(grids: GridIndex) -> tuple[GeoPoint, GeoPoint]:
    """A grid centre P and the point its GCJ-02 coordinates name when taken as WGS-84:
    the first grid where that mistake lands in another grid."""
    for grid_id in [f"G{n:03d}" for n in range(1, 109)]:
        grid = grids.grid(grid_id)
        if grid is None:
            continue
        lat, lon = wgs84_to_gcj02(grid.centroid_lat, grid.centroid_lon)
        wrong = grids.locate(lat, lon)
        if wrong is not None and wrong.grid_id != grid_id:
            return GeoPoint(lat=grid.centroid_lat, lon=grid.centroid_lon), GeoPoint(
                lat=lat, lon=lon
            )
    raise AssertionError("no grid where a GCJ-02 reading lands elsewhere")


async def test_a_steward_reports_with_photos_in_gcj02_and_hears_back_at_close(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,
    base: str,
    http: httpx.AsyncClient,
    settings: Settings,
    tmp_path: Path,
) -> None:
    secret = settings.bot_secret.get_secret_value()
    true_point, naive_point = misplaced_point(grids)
    true_grid = grids.locate(true_point.lat, true_point.lon)
    naive_grid = grids.locate(naive_point.lat, naive_point.lon)
    assert true_grid and naive_grid and true_grid.grid_id != naive_grid.grid_id

    [reporter] = await place_stewards(sessions, grids, true_point, 1, step_km=2.0)
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE steward SET duty_state = 'off_duty', language = 'en' WHERE id = :s"),
            {"s": reporter},
        )
    [near] = await place_stewards(sessions, grids, true_point, 1)  # 100 m from the true point
    [decoy] = await place_stewards(sessions, grids, naive_point, 1)  # 100 m from the wrong one

    # the gateway uploads the two photos the steward sent (one of them twice)
    photo = jpeg_bytes(1600, 1200, exif=phone_exif(), seed=21)
    other = jpeg_bytes(1200, 900, seed=22)
    files = [("IMG_1.jpg", photo, "image/jpeg"), ("IMG_2.jpg", other, "image/jpeg")]
    up = await http.post(
        f"{base}/bot/attachments",
        params={"steward_id": reporter},
        files=multipart_files(files),
        headers=gateway_headers(secret, f"attachments:{reporter}".encode(), content_type=None),
        timeout=60,
    )
    assert up.status_code == 201, up.text
    ids = [item["id"] for item in up.json()["items"]]
    again = await http.post(
        f"{base}/bot/attachments",
        params={"steward_id": reporter},
        files=multipart_files(files[:1]),
        headers=gateway_headers(secret, f"attachments:{reporter}".encode(), content_type=None),
        timeout=60,
    )
    assert again.status_code == 201
    unsigned = await http.post(
        f"{base}/bot/attachments", params={"steward_id": reporter}, files=multipart_files(files)
    )
    assert unsigned.status_code == 401

    report = {
        "request_id": f"rq-{uuid.uuid4().hex}",
        "steward_id": reporter,
        "case_type": "illegal_parking",
        "location": {"lat": naive_point.lat, "lon": naive_point.lon, "crs": "gcj02"},
        "description": "van blocking the fire lane",
        "attachment_ids": ids,
    }
    answer = await post_report(http, base, secret, report)
    assert answer.status_code == 200, answer.text
    filed = answer.json()
    case_id = track(filed["case_id"])
    assert filed["result"] == "filed" and filed["grid_id"] == true_grid.grid_id
    assert filed["message"].startswith(f"Filed as case {case_id}")  # the steward's language
    repeat = await post_report(http, base, secret, report)
    assert repeat.json() == filed and repeat.headers["x-gridplus-replayed"] == "true"

    handle = env.client.get_workflow_handle(case_workflow_id(case_id))
    view = await wait_for(handle, lambda v: v.steward_id is not None)
    assert view.steward_id == near  # chosen from the converted point, not the decoy
    assert view.grid_id == true_grid.grid_id
    offer = await gateway.wait_for(lambda m: m["case_id"] == case_id and m["kind"] == "new_task")
    assert offer["steward_id"] == near and case_id in offer["text"]
    assert view.timeline[0].evidence and {
        e.attachment_id for e in view.timeline[0].evidence
    } == set(ids)

    # stored once: 3 uploads of 2 photos; each blob (original, stripped, thumbnail) once
    rows = await rows_by(sessions, f"steward:{reporter}")
    assert len(rows) == 3 and len({r["sha256"] for r in rows}) == 2
    blobs = {r[k] for r in rows for k in ("sha256", "public_sha256", "thumb_sha256")}
    assert sorted(blobs_under(tmp_path / "store")) == sorted(blobs)

    center = bearer(settings, "supervisor", "center-zhao")
    for attachment_id in ids:
        link = await http.get(f"{base}/attachments/{attachment_id}", headers=center)
        assert link.json()["variant"] == "thumb"
        thumb = await http.get(base + link.json()["url"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    outsider = bearer(settings, "steward", decoy)
    refused = await http.get(f"{base}/attachments/{ids[0]}", headers=outsider)
    assert refused.status_code == 403

    def press(action: str, **extra: Any) -> dict[str, Any]:
        token = next(a["token"] for a in offer["actions"] if a["action"] == action)
        return {
            "request_id": f"rq-{uuid.uuid4().hex}",
            "steward_id": near,
            "case_id": case_id,
            "attempt": offer["attempt"],
            "action": action,
            "token": token,
            **extra,
        }

    async def upload_for(steward_id: str, seed: int) -> str:
        sent = await http.post(
            f"{base}/bot/attachments",
            params={"steward_id": steward_id},
            files=multipart_files([("after.jpg", jpeg_bytes(640, 480, seed=seed), "image/jpeg")]),
            headers=gateway_headers(
                secret, f"attachments:{steward_id}".encode(), content_type=None
            ),
            timeout=60,
        )
        assert sent.status_code == 201, sent.text
        return str(sent.json()["items"][0]["id"])

    async def callback(payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = gateway_headers(secret, body)
        return await http.post(f"{base}/bot/callback", content=body, headers=headers)

    assert (await callback(press("accept"))).json()["result"] == "accepted"
    foreign = await upload_for(decoy, 31)
    stolen = await callback(press("resolved", note="van moved", attachment_ids=[foreign]))
    assert (stolen.status_code, stolen.json()["fields"]) == (422, ["body.attachment_ids"])
    after = await upload_for(near, 32)
    done = await callback(press("resolved", note="van moved", attachment_ids=[after]))
    assert done.json()["result"] == "accepted", done.text
    resolved = await wait_for(handle, lambda v: v.status == "resolved")
    assert [e.attachment_id for e in resolved.timeline[-1].evidence] == [after]
    told = await gateway.wait_for(
        lambda m: m["steward_id"] == reporter and m["kind"] == "report_resolved"
    )
    assert case_id in told["text"] and told["language"] == "en"
    verified = await http.post(
        f"{base}/supervisors/cases/{case_id}/verify", json={"passed": True}, headers=center
    )
    assert verified.status_code == 200, verified.text
    closed = await gateway.wait_for(
        lambda m: m["steward_id"] == reporter and m["kind"] == "report_closed"
    )
    assert closed["case_id"] == case_id and f"The case you reported, {case_id}" in closed["text"]
    await wait_for(handle, lambda v: v.status == "closed")
    await save_history(handle, "bot_report_gcj02_reporter_told_closed")
