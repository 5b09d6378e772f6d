"""Cameras through the real API, Temporal test server, worker and database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from api.security import issue_token
from constants import case_workflow_id
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import (
    api,
    assert_no_trace,
    carried,
    detection,
    device,
    live,
    now,
    post,
    until,
    wait_no_rows,
    wait_rows,
)
from tests.support import count_rows, place_stewards, track
from tools.demo_devices import load_demo_devices
from workflows.cases.workflow import CaseWorkflow

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
__all__ = ["api"]  # a fixture, imported


async def test_burst_of_500_detections_is_one_case_and_the_api_keeps_answering(
    api: httpx.AsyncClient, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    camera = await device(sessions, grids, "G017")
    start = now() - timedelta(minutes=10)
    step = timedelta(seconds=600 / 500)  # 500 detections spread over ten minutes
    bodies = [
        detection(at=start + i * step, event_id=f"burst-{i:04d}", plate="浙F·A1234")
        | ({"location": {"lat": camera.at.lat + 0.00002, "lon": camera.at.lon}} if i % 3 else {})
        for i in range(500)
    ]
    health: list[int] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            health.append((await api.get("/healthz")).status_code)
            await asyncio.sleep(0.05)

    prober = asyncio.create_task(probe())
    answers: list[httpx.Response] = []
    for batch in range(0, 500, 50):
        chunk = bodies[batch : batch + 50]
        answers += await asyncio.gather(*(post(api, camera, "detections", b) for b in chunk))
    done.set()
    await prober

    assert [a.status_code for a in answers] == [202] * 500, answers[0].text
    results = [a.json() for a in answers]
    case_ids = {r["case_id"] for r in results}
    assert len(case_ids) == 1
    case_id = track(case_ids.pop())
    assert [r["outcome"] for r in results].count("opened") == 1
    assert [r["merged"] for r in results].count(False) == 1
    assert health and set(health) == {200}  # answered all through the burst

    # the first detections open the case and attach one by one; once it is open (and
    # projected) the rest are recorded and reach it as coalesced updates (issue 18)
    view = await until(env, case_id, lambda v: carried(v) == 500)
    updates = sum(e.kind == "evidence_added" for e in view.timeline)
    assert updates < 500, "later detections of the open scene were not coalesced"
    assert view.case_type == "illegal_parking"
    assert view.source == "camera"
    urls = {e.evidence[0].url for e in view.timeline if e.kind == "evidence_added"}
    assert urls <= {b["snapshot_url"] for b in bodies}
    coalesced = [e for e in view.timeline if e.kind == "evidence_added" and e.note]
    assert coalesced and all(e.evidence[0].kind == "snapshot" for e in coalesced)
    projected = await wait_rows(
        sessions, updates,
        "SELECT count(*) FROM case_event WHERE case_id = :c AND kind = 'evidence_added'",
        c=case_id,
    )  # fmt: skip
    assert projected == updates
    assert (
        await count_rows(sessions, "SELECT count(*) FROM case_record WHERE case_id = :c", c=case_id)
        == 1
    )
    recorded = "SELECT count(*) FROM detection WHERE device_id = :d AND case_id = :c"
    assert await count_rows(sessions, recorded, d=camera.id, c=case_id) == 500
    # the flusher marks its rows sent once the update returned: a moment after the timeline
    waiting = "SELECT count(*) FROM detection WHERE device_id = :d AND pending"
    assert await wait_no_rows(sessions, waiting, d=camera.id) == 0

    # a retried post (same event id) is answered from the record and attaches nothing new
    again = await post(api, camera, "detections", bodies[7])
    assert again.status_code == 202
    assert again.json()["case_id"] == case_id
    later = await post(api, camera, "detections", bodies[-1])
    assert later.json()["case_id"] == case_id and later.json()["merged"]
    await asyncio.sleep(0.5)
    view = await live(env, case_id)
    assert carried(view) == 500


async def test_below_threshold_is_recorded_and_opens_no_case(
    api: httpx.AsyncClient, sessions: SessionFactory, grids: GridIndex
) -> None:
    camera = await device(sessions, grids, "G021")
    response = await post(api, camera, "detections", detection("street_vendor", confidence=0.5))
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["outcome"], body["case_id"], body["merged"]) == ("below_threshold", None, False)
    merges = "SELECT count(*) FROM intake_merge WHERE label LIKE :p"
    assert await count_rows(sessions, merges, p=f"camera:{camera.id}:%") == 0
    rows = "SELECT count(*) FROM detection WHERE device_id = :d AND outcome = 'below_threshold'"
    assert await count_rows(sessions, rows, d=camera.id) == 1


async def test_red_light_goes_to_traffic_police_with_evidence_and_no_steward(
    api: httpx.AsyncClient, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    camera = await device(sessions, grids, "G040")
    await place_stewards(sessions, grids, camera.at, 3)  # free stewards nearby, not asked
    first = await post(
        api, camera, "detections", detection("red_light_running", confidence=0.97, plate="浙F12345")
    )
    assert first.status_code == 202, first.text
    case_id = track(first.json()["case_id"])
    other_car = await post(
        api, camera, "detections", detection("red_light_running", confidence=0.95, plate="浙A88888")
    )
    assert track(other_car.json()["case_id"]) != case_id  # two vehicles, two violations

    view = await until(env, case_id, lambda v: v.status == "escalated")
    assert view.department == "traffic_police"
    assert view.handler == "department"
    assert view.steward_id is None
    assert not {"dispatched", "confirm_dispatched"} & {e.kind for e in view.timeline}
    sql = (
        "SELECT count(*) FROM notification WHERE case_id = :c AND channel = 'department'"
        " AND recipient = 'traffic_police'"
    )
    assert await wait_rows(sessions, 1, sql, c=case_id) >= 1
    async with sessions() as session:
        row = (
            await session.execute(
                text("SELECT body FROM notification WHERE case_id = :c AND channel = 'department'"),
                {"c": case_id},
            )
        ).first()
    assert row is not None
    body = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    evidence = body["case"]["evidence"]
    assert evidence and evidence[0]["kind"] == "snapshot" and "浙F12345" in evidence[0]["note"]


BAD_DETECTIONS: list[tuple[str, Callable[[], dict[str, Any]], int, str | None]] = [
    ("impossible latitude", lambda: detection(location={"lat": 200, "lon": 120.5}), 422,
     "body.location.lat"),
    ("beyond the camera's sight", lambda: detection(location={"lat": 31.5, "lon": 121.4}), 422,
     "body.location"),
    ("in the future", lambda: detection(at=now() + timedelta(minutes=10)), 422, "body.detected_at"),
    ("days old", lambda: detection(at=now() - timedelta(days=2)), 422, "body.detected_at"),
    ("no time zone", lambda: detection() | {"detected_at": "2026-11-25T08:00:00"}, 422,
     "body.detected_at"),
    ("unknown type", lambda: detection("ufo_sighting"), 422, "body.detection_type"),
    ("confidence above 1", lambda: detection(confidence=1.5), 422, "body.confidence"),
    ("posting as another camera", lambda: detection() | {"camera_id": "CAM-X"}, 422,
     "body.camera_id"),
    ("not a web link", lambda: detection() | {"snapshot_url": "javascript:alert(1)"}, 422,
     "body.snapshot_url"),
    ("oversized", lambda: detection() | {"plate": "A" * 70_000}, 413, None),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make", "status", "field"), BAD_DETECTIONS)
async def test_bad_detections_are_refused_and_leave_no_trace(
    api: httpx.AsyncClient, sessions: SessionFactory, grids: GridIndex,
    name: str, make: Callable[[], dict[str, Any]], status: int, field: str | None,
) -> None:  # fmt: skip
    camera = await device(sessions, grids, "G045")
    response = await post(api, camera, "detections", make())
    assert response.status_code == status, f"{name}: {response.text}"
    if field:
        assert field in response.json()["fields"], response.json()
    await assert_no_trace(sessions, camera.id)


async def test_device_authentication_and_kinds(
    api: httpx.AsyncClient, sessions: SessionFactory, grids: GridIndex
) -> None:
    camera = await device(sessions, grids, "G046")
    other = await device(sessions, grids, "G047")
    sensor = await device(sessions, grids, "G048", "street_lamp")
    body = detection()
    unknown = await api.post("/devices/NO-SUCH-CAM/detections", json=body, headers=camera.headers())
    assert unknown.status_code == 401
    bad_key = await api.post(
        f"/devices/{camera.id}/detections", json=body, headers={"X-Device-Key": "x" * 43}
    )
    assert bad_key.status_code == 401
    assert (await api.post(f"/devices/{camera.id}/detections", json=body)).status_code == 401
    # a camera's key on another camera's path: it can only post as itself
    as_other = await api.post(
        f"/devices/{other.id}/detections", json=body, headers=camera.headers()
    )
    assert as_other.status_code == 401
    assert (await post(api, sensor, "detections", body)).status_code == 403
    event = {"event": "alarm", "occurred_at": now().isoformat()}
    assert (await post(api, camera, "events", event)).status_code == 403
    future = {"event": "alarm", "occurred_at": (now() + timedelta(minutes=6)).isoformat()}
    response = await post(api, sensor, "events", future)
    assert response.status_code == 422 and "body.occurred_at" in response.json()["fields"]
    response = await post(
        api, sensor, "events", {"event": "explode", "occurred_at": now().isoformat()}
    )
    assert response.status_code == 422 and "body.event" in response.json()["fields"]
    for dev in (camera, other, sensor):
        await assert_no_trace(sessions, dev.id)


async def test_merge_window_is_a_gap_not_a_clock_boundary(
    api: httpx.AsyncClient, sessions: SessionFactory, grids: GridIndex
) -> None:
    camera = await device(sessions, grids, "G026")
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    # the last 10-minute boundary of the clock, then a burst straddling it
    boundary = epoch + ((now() - epoch) // timedelta(minutes=10)) * timedelta(minutes=10)
    if now() - boundary < timedelta(seconds=5):
        boundary -= timedelta(minutes=10)
    straddling = [boundary - timedelta(seconds=2), boundary + timedelta(seconds=3)]
    answers = [
        (await post(api, camera, "detections", detection("street_vendor", at=at))).json()
        for at in [boundary - timedelta(minutes=30), *straddling]
    ]
    for answer in answers:
        track(answer["case_id"])
    early, before, after = (a["case_id"] for a in answers)
    assert before == after  # one burst across the boundary: one case
    assert early != before  # 28 quiet minutes (more than the window): a new case
    assert [a["outcome"] for a in answers] == ["opened", "opened", "merged"]


async def test_a_detection_after_the_case_ended_opens_a_new_case(
    api: httpx.AsyncClient, env: WorkflowEnvironment, settings: Settings,
    sessions: SessionFactory, grids: GridIndex,
) -> None:  # fmt: skip
    camera = await device(sessions, grids, "G027")
    first = (await post(api, camera, "detections", detection("fire_lane_blocked"))).json()
    case_id = track(first["case_id"])
    token = issue_token(
        settings.api_token_secret.get_secret_value(), Actor(role="supervisor", id="wang")
    )
    cancelled = await api.post(
        f"/supervisors/cases/{case_id}/cancel",
        json={"reason": "car moved away"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert cancelled.status_code == 200, cancelled.text
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(case_id))
    assert (await handle.result()).status == "cancelled"
    # the same scene a minute later, well within the merge window: a new case
    again = await asyncio.gather(
        *(post(api, camera, "detections", detection("fire_lane_blocked")) for _ in range(5))
    )
    new_ids = {a.json()["case_id"] for a in again}
    assert len(new_ids) == 1 and case_id not in new_ids
    track(new_ids.pop())
    assert [a.json()["outcome"] for a in again].count("opened") == 1


async def test_demo_devices_load_twice_and_post_with_their_keys(
    api: httpx.AsyncClient, sessions: SessionFactory, grids: GridIndex
) -> None:
    first = await load_demo_devices(sessions, grids)
    again = await load_demo_devices(sessions, grids)  # idempotent: same rows, same keys
    assert [(d.id, d.key) for d in first] == [(d.id, d.key) for d in again]
    assert {d.id: d.enterprise_id for d in first if d.enterprise_id} == {"CAM-E0001-01": "E0001"}
    kinds = {d.sensor_type for d in first if d.kind == "sensor"}
    assert kinds == {
        "smoke_detector",
        "manhole_cover",
        "water_gate",
        "street_lamp",
        "public_toilet",
    }
    camera = next(d for d in first if d.kind == "camera")
    low = detection("street_vendor", confidence=0.1)  # below threshold: no case in shared state
    response = await api.post(
        f"/devices/{camera.id}/detections", json=low, headers={"X-Device-Key": camera.key}
    )
    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "below_threshold"


def test_demo_enterprise_cameras_are_bound_in_their_enterprises_grid() -> None:
    """The demo's warehouse camera is bound to a demo enterprise and placed in its grid."""
    from tools.demo_data import build_town
    from tools.demo_devices import ENTERPRISE_CAMERAS
    from tools.demo_enterprises import build_enterprises

    companies = {e.id: e for e in build_enterprises(build_town(seed=17, stewards=0))}
    assert ENTERPRISE_CAMERAS
    for _, enterprise_id, grid_id, _ in ENTERPRISE_CAMERAS:
        assert companies[enterprise_id].grid_id == grid_id
