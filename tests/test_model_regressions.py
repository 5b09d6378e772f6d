"""Plain regression tests for the defects the model walker found (``tests/test_model_case``).

Each is the walker's shrunk sequence written out. D1 and D2 are fixed behind patch
``case-loop-v3`` (``workflows/cases/loop.py``), whose histories these tests save for the
replay set; the head-escalation extension is refused since ``case-loop-v2``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from constants import case_workflow_id
from schemas.platform.common import Actor
from services.intake.devices import register_device
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import until
from tests.model.doors import Doors, now_iso
from tests.support import SUPERVISOR, grid_point, place_stewards, save_history, track

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


def doors(api: httpx.AsyncClient, settings: Settings) -> Doors:
    return Doors.of(api, settings)


async def projected_seq(sessions: SessionFactory, case_id: str) -> int:
    async with sessions() as session:
        value = (
            await session.execute(
                text("SELECT max(seq) FROM case_event WHERE case_id = :c"), {"c": case_id}
            )
        ).scalar_one_or_none()
    return int(value or 0)


async def test_d1_both_path_projects_its_timeline_after_a_lapsed_confirmation(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    """Walker: open a `both` case (pollution), let the on-site offer lapse (time jump).

    The confirmation's wait ended through ``CaseOps.rest`` and cleared ``_resting`` while
    the department stage still rested; nobody else to ask, the confirmation gave up, and
    ``confirm_timeout`` and ``no_steward_for_confirmation`` were never projected until
    something woke the main flow (a steward accepting the confirmation does the same).
    """
    at = grid_point(grids, "G017")
    await place_stewards(sessions, grids, at, 1)
    body = {"case_type": "pollution", "location": at.model_dump(), "source": "supervisor"}
    created = await doors(api, settings).post("/cases", SUPERVISOR, body, key="d1-" + "x" * 8)
    case_id = track(created.body["case_id"])
    await until(env, case_id, lambda v: any(e.kind == "confirm_dispatched" for e in v.timeline))
    await env.sleep(timedelta(minutes=15, seconds=1))  # the accept SLA of pollution
    view = await until(env, case_id, lambda v: v.timeline[-1].kind == "no_steward_for_confirmation")
    last = view.timeline[-1].seq
    for _ in range(200):  # the projection catches up as soon as the case rests
        if await projected_seq(sessions, case_id) >= last:
            break
        await asyncio.sleep(0.05)
    assert await projected_seq(sessions, case_id) >= last
    handle = env.client.get_workflow_handle(case_workflow_id(case_id))
    await save_history(handle, "v3_both_confirmation_lapsed_projected")


async def test_d2_a_case_back_at_its_department_after_a_reassign_is_escalated_again(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    """Walker: escalate, reassign, the only steward declines: back to the department.

    As built the department stage runs again without ``escalated``: the status stays
    ``dispatched``, the department gets no new message and its accept is refused.
    """
    door = doors(api, settings)
    at = grid_point(grids, "G023")
    # two stewards: the reassign never goes back to the one last offered the case (v2)
    await place_stewards(sessions, grids, at, 2)
    body = {"case_type": "illegal_parking", "location": at.model_dump()}
    created = await door.post("/cases", SUPERVISOR, body, key="d2-" + "x" * 8)
    case_id = track(created.body["case_id"])
    await until(env, case_id, lambda v: v.status == "dispatched")
    base = f"/supervisors/cases/{case_id}"
    assert (await door.post(f"{base}/escalate", SUPERVISOR, {"reason": "dept"})).ok
    await until(env, case_id, lambda v: v.status == "escalated")
    assert (await door.post(f"{base}/reassign", SUPERVISOR, {"reason": "steward"})).ok
    view = await until(env, case_id, lambda v: v.status == "dispatched")
    offer = next(e for e in reversed(view.timeline) if e.kind == "dispatched")
    steward, attempt = offer.data["steward"], int(offer.data["attempt"])
    answer, _ = await door.press(door.callback(steward, case_id, attempt, "decline"))
    assert answer.ok
    view = await until(env, case_id, lambda v: v.timeline[-1].kind != "declined")
    assert [e.kind for e in view.timeline][-2:] == ["no_steward_available", "escalated"]
    accepted = await door.post(
        f"/departments/traffic_police/cases/{case_id}/accept",
        Actor(role="department", id="traffic_police"),
        {},
    )
    assert accepted.ok, accepted.body
    handle = env.client.get_workflow_handle(case_workflow_id(case_id))
    await save_history(handle, "v3_reassigned_back_to_department_escalated")


async def test_extension_after_head_escalation_is_refused_and_no_task_fails(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    """The defect issue 13 names, as the walker reaches it: past both department deadlines
    the case is with the department head (no deadline), and the department asks for time.
    """
    door = doors(api, settings)
    at = grid_point(grids, "G031")
    body = {"case_type": "red_light_running", "location": at.model_dump()}
    created = await door.post("/cases", SUPERVISOR, body, key="head-" + "x" * 8)
    case_id = track(created.body["case_id"])
    await until(env, case_id, lambda v: v.status == "escalated")
    await env.sleep(timedelta(days=3, seconds=1))  # the department SLA: urge
    await env.sleep(timedelta(days=1, hours=12, seconds=1))  # the urge's grace: the head
    await until(env, case_id, lambda v: v.timeline[-1].kind == "department_head_escalation")
    department = Actor(role="department", id="traffic_police")
    path = f"/departments/traffic_police/cases/{case_id}/extension"
    answer = await door.post(path, department, {"extra": 3600, "reason": "more time"})
    history = await env.client.get_workflow_handle(case_workflow_id(case_id)).fetch_history()
    failed = [e for e in history.events if e.HasField("workflow_task_failed_event_attributes")]
    assert failed == []
    assert (answer.status, answer.code) == (409, "escalated_to_head")


async def test_d3_reassign_naming_an_unknown_steward_on_a_result_to_verify_is_wrong_stage(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    """Walker (3 steps): a supervisor's reassign naming nobody known (refused
    ``steward_unavailable``), the smoke detector recovers (the result waits for
    verification), the reassign again with its key.

    The API checked the named steward in the registry before the case's stage, so a case
    whose result waits for verification answered "steward unavailable", as if naming
    someone else would do, where the workflow refuses any reassign (``wrong_stage``).
    """
    door = doors(api, settings)
    at = grid_point(grids, "G041")
    await place_stewards(sessions, grids, at, 2)
    key = await register_device(
        sessions, grids, "D3SNS", "sensor", at, sensor_type="smoke_detector"
    )
    alarm = {"event": "alarm", "occurred_at": now_iso()}
    opened = await door.device_post("D3SNS", key, "events", alarm)
    case_id = track(opened.body["case_id"])
    await until(env, case_id, lambda v: v.status in ("dispatched", "escalated"))
    path = f"/supervisors/cases/{case_id}/reassign"
    body = {"reason": "supervisor decides", "steward_id": "NOBODY-d3"}
    first = await door.post(path, SUPERVISOR, body, key="d3-reassign-1")
    assert (first.status, first.code) == (409, "steward_unavailable")
    recovery = {"event": "recovery", "occurred_at": now_iso(), "event_id": "d3-recovery-1"}
    recovered = await door.device_post("D3SNS", key, "events", recovery)
    assert recovered.body["outcome"] == "recovered"
    await until(env, case_id, lambda v: v.status == "resolved")
    again = await door.post(path, SUPERVISOR, body, key="d3-reassign-1")
    assert (again.status, again.code) == (409, "wrong_stage"), again.body
    other = await door.post(path, SUPERVISOR, {**body, "steward_id": "NOBODY-d3b"})
    assert (other.status, other.code) == (409, "wrong_stage"), other.body


async def test_d4_an_extension_of_an_overdue_verification_is_watched_again(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    """Walker (soak seed 199287383, 4 steps): a result waits for verification, time passes
    its deadline (``verification_overdue``), a supervisor extends it by an hour, time
    passes the moved deadline.

    Once overdue, the verification stage waited with no timer; the extension (accepted:
    the stage has a deadline) moved a deadline nothing watched, so when it passed the case
    showed a past deadline, not overdue, with nothing fired. Since ``overdue-rearm-v1``
    the moved deadline is waited for and, passed, makes the stage overdue again.
    """
    door = doors(api, settings)
    at = grid_point(grids, "G043")
    await place_stewards(sessions, grids, at, 1)
    key = await register_device(
        sessions, grids, "D4SNS", "sensor", at, sensor_type="smoke_detector"
    )
    opened = await door.device_post(
        "D4SNS", key, "events", {"event": "alarm", "occurred_at": now_iso()}
    )
    case_id = track(opened.body["case_id"])
    await until(env, case_id, lambda v: v.status in ("dispatched", "escalated"))
    recovery = {"event": "recovery", "occurred_at": now_iso(), "event_id": "d4-recovery-1"}
    assert (await door.device_post("D4SNS", key, "events", recovery)).body["outcome"] == "recovered"
    resolved = await until(env, case_id, lambda v: v.status == "resolved")
    assert resolved.deadline is not None
    await env.sleep(resolved.deadline - await env.get_current_time() + timedelta(minutes=1))
    await until(env, case_id, lambda v: v.overdue)
    path = f"/supervisors/cases/{case_id}/extend"
    extended = await door.post(path, SUPERVISOR, {"extra": 3600, "reason": "weather"})
    assert extended.status == 200, extended.body
    moved = await until(env, case_id, lambda v: not v.overdue)
    assert moved.deadline is not None and moved.deadline > await env.get_current_time()
    await env.sleep(timedelta(hours=2))
    again = await until(env, case_id, lambda v: v.overdue, within=15)
    assert again.status == "resolved"
    assert [e.kind for e in again.timeline].count("verification_overdue") == 2
    await save_history(
        env.client.get_workflow_handle(case_workflow_id(case_id)), "overdue_rearm_v1_extended"
    )
