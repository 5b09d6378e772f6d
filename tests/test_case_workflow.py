"""The street case's closed loop on the real time-skipping Temporal server and a real DB."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from schemas.cases.views import CaseView
from schemas.cases.workflow import (
    AcceptTask,
    CancelCase,
    DeclineTask,
    DepartmentAccept,
    DepartmentReport,
    ReportRecovery,
    ReportResolved,
    VerifyResult,
)
from schemas.platform.common import Actor
from services.cases.queries import projected_case
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.support import (
    SUPERVISOR,
    active_tasks,
    case_input,
    count_rows,
    grid_point,
    key,
    open_case,
    place_stewards,
    save_history,
    view,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


async def accepted_update_keys(handle: WorkflowHandle[Any, Any]) -> set[str]:
    history = await handle.fetch_history()
    keys = set()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            payload = request.input.args.payloads[0]
            keys.add(json.loads(payload.data)["idempotency_key"])
    return keys


def steward(steward_id: str) -> Actor:
    return Actor(role="steward", id=steward_id)


async def rejected(coro: object) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await coro  # type: ignore[misc]
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_parking_case_closes_and_projection_matches_history(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G050")
    s1, s2, _ = await place_stewards(sessions, grids, at, 3)
    inp = case_input(grids, "illegal_parking", at, "白色轿车占用盲道")
    assert inp.grid_id == "G050"
    handle = await open_case(env.client, inp)

    offered = await wait_for(handle, lambda v: v.status == "dispatched")
    assert offered.steward_id == s1  # the nearest on-duty steward
    assert await active_tasks(sessions, s1) == 1

    await handle.execute_update("accept_task", AcceptTask(actor=steward(s1), idempotency_key=key()))
    await handle.execute_update(
        "report_resolved",
        ReportResolved(actor=steward(s1), idempotency_key=key(), note="车已挪走"),
    )
    resolved = await wait_for(handle, lambda v: v.waiting_for.startswith("verification"))
    assert resolved.status == "resolved"
    await handle.execute_update(
        "verify", VerifyResult(actor=SUPERVISOR, idempotency_key=key(), passed=True)
    )
    result = await handle.result()
    assert result.status == "closed"
    assert result.rework_count == 0

    final = await view(handle)
    kinds = [e.kind for e in final.timeline]
    assert kinds == ["filed", "dispatched", "accepted", "resolved", "verified", "closed"]
    assert [e.seq for e in final.timeline] == list(range(1, 7))
    async with sessions() as session:
        projected = await projected_case(session, inp.case_id)
    assert projected is not None
    assert projected.status == "closed"
    assert [(e.seq, e.kind, e.status, e.actor) for e in projected.timeline] == [
        (e.seq, e.kind, e.status, e.actor) for e in final.timeline
    ]
    # every human action in the timeline is an accepted update in Temporal's history
    assert len(await accepted_update_keys(handle)) == 3
    assert await active_tasks(sessions, s1) == 0
    assert await active_tasks(sessions, s2) == 0
    messages = await count_rows(
        sessions,
        "SELECT count(*) FROM notification WHERE case_id = :c AND recipient = :s",
        c=inp.case_id,
        s=s1,
    )
    assert messages == 2  # the task, then the thanks on closure
    await save_history(handle, "steward_path_closed")


async def test_timeouts_walk_three_stewards_then_department_then_urge(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G061")
    stewards = await place_stewards(sessions, grids, at, 4)
    inp = case_input(grids, "illegal_parking", at)
    sla = inp.policy.case_type.sla
    handle = await open_case(env.client, inp)

    for expected in stewards[:3]:

        def offered_to(v: CaseView, s: str = expected) -> bool:
            return v.status == "dispatched" and v.steward_id == s

        current = await wait_for(handle, offered_to)
        assert current.deadline is not None
        await env.sleep(sla.accept + timedelta(seconds=5))

    escalated = await wait_for(handle, lambda v: v.status == "escalated")
    assert escalated.department == "traffic_police"
    assert escalated.handler == "department"
    timeouts = [e for e in escalated.timeline if e.kind == "accept_timeout"]
    assert [e.data["steward"] for e in timeouts] == stewards[:3]
    assert all([await active_tasks(sessions, s) == 0 for s in stewards])

    await env.sleep(sla.department + timedelta(minutes=1))
    urged = await wait_for(handle, lambda v: any(e.kind == "supervisor_urge" for e in v.timeline))
    assert urged.overdue is True
    assert urged.urge_count == 1
    kinds = [e.kind for e in urged.timeline]
    assert kinds.index("deadline_warning") < kinds.index("supervisor_urge")
    inbox = await count_rows(
        sessions,
        "SELECT count(*) FROM notification WHERE case_id = :c AND channel = 'department'",
        c=inp.case_id,
    )
    assert inbox == 3  # new case, warning, urge

    await handle.execute_update(
        "cancel", CancelCase(actor=SUPERVISOR, idempotency_key=key(), reason="测试结束")
    )
    assert (await handle.result()).status == "cancelled"
    await save_history(handle, "timeouts_department_urge_cancelled")


async def test_decline_moves_on_at_once_and_failed_verification_is_rework(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G030")
    s1, s2 = await place_stewards(sessions, grids, at, 2)
    handle = await open_case(env.client, case_input(grids, "garbage", at))
    await wait_for(handle, lambda v: v.steward_id == s1)
    await handle.execute_update(
        "decline_task", DeclineTask(actor=steward(s1), idempotency_key=key(), reason="不在附近")
    )
    await wait_for(handle, lambda v: v.status == "dispatched" and v.steward_id == s2)
    await handle.execute_update("accept_task", AcceptTask(actor=steward(s2), idempotency_key=key()))
    await handle.execute_update(
        "report_resolved", ReportResolved(actor=steward(s2), idempotency_key=key(), note="已清理")
    )
    await wait_for(handle, lambda v: v.status == "resolved")
    # the handler may not verify their own result
    cause = await rejected(
        handle.execute_update(
            "verify", VerifyResult(actor=steward(s2), idempotency_key=key(), passed=True)
        )
    )
    assert cause.type == "self_verification"
    await handle.execute_update(
        "verify",
        VerifyResult(actor=steward(s1), idempotency_key=key(), passed=False, note="还有垃圾"),
    )
    again = await wait_for(handle, lambda v: v.status == "dispatched")
    assert again.rework_count == 1
    assert again.steward_id == s2  # rework goes back to whoever handled it
    offers = [int(e.data["attempt"]) for e in again.timeline if e.kind == "dispatched"]
    assert len(offers) == 3 and offers[2] > offers[1]
    # a button from the earlier offer to the same steward no longer acts on the new task
    cause = await rejected(
        handle.execute_update(
            "accept_task", AcceptTask(actor=steward(s2), idempotency_key=key(), attempt=offers[1])
        )
    )
    assert cause.type == "too_late"
    await handle.execute_update(
        "accept_task", AcceptTask(actor=steward(s2), idempotency_key=key(), attempt=offers[2])
    )
    await handle.execute_update(
        "report_resolved", ReportResolved(actor=steward(s2), idempotency_key=key(), note="清干净了")
    )
    await wait_for(handle, lambda v: v.status == "resolved")
    await handle.execute_update(
        "verify", VerifyResult(actor=SUPERVISOR, idempotency_key=key(), passed=True)
    )
    result = await handle.result()
    assert (result.status, result.rework_count) == ("closed", 1)
    await save_history(handle, "decline_rework_closed")


async def test_same_key_twice_changes_nothing_and_wrong_actors_are_refused(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G072")
    s1, s2 = await place_stewards(sessions, grids, at, 2)
    handle = await open_case(env.client, case_input(grids, "street_vendor", at))
    await wait_for(handle, lambda v: v.steward_id == s1)

    cause = await rejected(
        handle.execute_update("accept_task", AcceptTask(actor=steward(s2), idempotency_key=key()))
    )
    assert cause.type == "too_late"
    cause = await rejected(
        handle.execute_update(
            "accept_task", AcceptTask(actor=Actor(role="citizen", id=s1), idempotency_key=key())
        )
    )
    assert cause.type == "forbidden_role"
    cause = await rejected(
        handle.execute_update(
            "cancel", CancelCase(actor=steward(s1), idempotency_key=key(), reason="想取消")
        )
    )
    assert cause.type == "forbidden_role"
    cause = await rejected(
        handle.execute_update(
            "department_accept",
            DepartmentAccept(
                actor=Actor(role="department", id="urban_management"), idempotency_key=key()
            ),
        )
    )
    assert cause.type == "not_assigned"

    same = key()
    first = await handle.execute_update(
        "accept_task", AcceptTask(actor=steward(s1), idempotency_key=same)
    )
    second = await handle.execute_update(
        "accept_task", AcceptTask(actor=steward(s1), idempotency_key=same)
    )
    assert first == second
    cause = await rejected(
        handle.execute_update("accept_task", AcceptTask(actor=steward(s1), idempotency_key=key()))
    )
    assert cause.type == "already_done"
    current = await view(handle)
    assert [e.kind for e in current.timeline].count("accepted") == 1
    # none of the refused actions entered history; the repeat was answered, not re-applied
    assert await accepted_update_keys(handle) == {same}
    await handle.execute_update(
        "cancel", CancelCase(actor=SUPERVISOR, idempotency_key=key(), reason="重复案件")
    )
    result = await handle.result()
    assert result.status == "cancelled"
    assert await active_tasks(sessions, s1) == 0
    await save_history(handle, "duplicate_and_refused_cancelled")


async def test_red_light_goes_straight_to_traffic_police(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G005")
    (s1,) = await place_stewards(sessions, grids, at, 1)
    handle = await open_case(env.client, case_input(grids, "red_light_running", at))
    police = Actor(role="department", id="traffic_police")
    await wait_for(handle, lambda v: v.status == "escalated")
    await handle.execute_update(
        "department_accept", DepartmentAccept(actor=police, idempotency_key=key())
    )
    await handle.execute_update(
        "department_report",
        DepartmentReport(actor=police, idempotency_key=key(), note="已录入违法记录"),
    )
    cause = await rejected(
        handle.execute_update(
            "verify", VerifyResult(actor=police, idempotency_key=key(), passed=True)
        )
    )
    assert cause.type == "forbidden_role"
    await handle.execute_update(
        "verify", VerifyResult(actor=SUPERVISOR, idempotency_key=key(), passed=True)
    )
    result = await handle.result()
    assert result.status == "closed"
    final = await view(handle)
    assert "dispatched" not in [e.kind for e in final.timeline]
    assert await active_tasks(sessions, s1) == 0
    await save_history(handle, "department_direct_closed")


async def test_smoke_alarm_reaches_fire_and_a_steward_in_parallel(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G090")
    (s1,) = await place_stewards(sessions, grids, at, 1)
    handle = await open_case(env.client, case_input(grids, "smoke_alarm", at))
    both = await wait_for(
        handle,
        lambda v: (
            v.status == "escalated" and any(e.kind == "confirm_dispatched" for e in v.timeline)
        ),
    )
    assert both.department == "fire"
    await handle.execute_update("accept_task", AcceptTask(actor=steward(s1), idempotency_key=key()))
    await handle.execute_update(
        "report_resolved",
        ReportResolved(actor=steward(s1), idempotency_key=key(), note="现场确认：厨房油烟"),
    )
    current = await wait_for(
        handle, lambda v: any(e.kind == "onsite_confirmed" for e in v.timeline)
    )
    assert current.status == "escalated"  # the department still holds the case
    fire = Actor(role="department", id="fire")
    await handle.execute_update(
        "department_report", DepartmentReport(actor=fire, idempotency_key=key(), note="误报")
    )
    await handle.execute_update(
        "verify", VerifyResult(actor=SUPERVISOR, idempotency_key=key(), passed=True)
    )
    assert (await handle.result()).status == "closed"
    assert await active_tasks(sessions, s1) == 0
    await save_history(handle, "both_paths_closed")


async def test_sensor_recovery_lets_the_case_close_after_verification(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G044")
    (s1,) = await place_stewards(sessions, grids, at, 1)
    handle = await open_case(env.client, case_input(grids, "manhole_cover", at))
    await wait_for(
        handle,
        lambda v: (
            v.status == "escalated" and any(e.kind == "confirm_dispatched" for e in v.timeline)
        ),
    )
    sensor = Actor(role="device", id="manhole-0044")
    cause = await rejected(
        handle.execute_update(
            "report_recovery", ReportRecovery(actor=steward(s1), idempotency_key=key())
        )
    )
    assert cause.type == "forbidden_role"
    await handle.execute_update(
        "report_recovery", ReportRecovery(actor=sensor, idempotency_key=key(), note="井盖复位")
    )
    recovered = await wait_for(handle, lambda v: v.waiting_for.startswith("verification"))
    assert recovered.status == "resolved"
    cause = await rejected(
        handle.execute_update(
            "verify", VerifyResult(actor=sensor, idempotency_key=key(), passed=True)
        )
    )
    assert cause.type == "self_verification"
    await handle.execute_update(
        "verify", VerifyResult(actor=SUPERVISOR, idempotency_key=key(), passed=True)
    )
    assert (await handle.result()).status == "closed"
    assert await active_tasks(sessions, s1) == 0
    await save_history(handle, "sensor_recovery_closed")


async def test_cancel_before_the_first_task_ends_cancelled(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G033")
    inp = case_input(grids, "garbage", at)
    handle = await open_case(env.client, inp)
    await handle.execute_update(
        "cancel", CancelCase(actor=SUPERVISOR, idempotency_key=key(), reason="误报")
    )
    result = await handle.result()
    assert result.status == "cancelled"
    final = await view(handle)
    assert final.status == "cancelled"
    assert [e.kind for e in final.timeline][-1] == "cancelled"
    assert "dispatched" not in [e.kind for e in final.timeline]
