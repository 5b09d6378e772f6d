"""Issue 12: the case loop's defects found by a day in the town (items 1 to 5).

Real time-skipping Temporal server, real worker and database, the real app over ASGI.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.security import issue_token
from schemas.cases.workflow import (
    AcceptTask,
    CancelCase,
    DepartmentAccept,
    DepartmentExtension,
    DepartmentReport,
    ReassignCase,
    ReportResolved,
    VerifyResult,
)
from schemas.platform.common import Actor, Role
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import (
    SUPERVISOR,
    case_input,
    grid_point,
    key,
    open_case,
    place_stewards,
    save_history,
    view,
    wait_for,
)
from tests.test_case_workflow import rejected, steward

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


def bearer(settings: Settings, role: Role = "supervisor", subject: str = "center-li") -> Any:
    secret = settings.api_token_secret.get_secret_value()
    return {"Authorization": f"Bearer {issue_token(secret, Actor(role=role, id=subject))}"}


async def messages(sessions: SessionFactory, case_id: str) -> list[tuple[str, str, str]]:
    """``(recipient, kind, text)`` of every steward message of the case, in queue order."""
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT recipient, kind, body FROM notification"
                " WHERE case_id = :c AND channel = 'bot' ORDER BY position"
            ),
            {"c": case_id},
        )
        found = []
        for recipient, kind, body in rows:
            payload = body if isinstance(body, dict) else json.loads(body)
            found.append((recipient, kind, payload["text"]))
        return found


async def payload_of(
    sessions: SessionFactory, case_id: str, recipient: str, kind: str
) -> dict[str, Any]:
    """What the gateway got with a steward's message of ``kind``."""
    async with sessions() as session:
        body = (
            await session.execute(
                text(
                    "SELECT body FROM notification WHERE case_id = :c AND channel = 'bot'"
                    " AND recipient = :r AND kind = :k"
                ),
                {"c": case_id, "r": recipient, "k": kind},
            )
        ).scalar_one()
    payload: dict[str, Any] = body if isinstance(body, dict) else json.loads(body)
    return payload


async def told(
    sessions: SessionFactory, case_id: str, recipient: str, kind: str
) -> list[tuple[str, str, str]]:
    """Wait (briefly) until ``recipient`` got a ``kind`` message; all the case's messages."""
    for _ in range(100):
        found = await messages(sessions, case_id)
        if (recipient, kind) in {(r, k) for r, k, _ in found}:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{recipient} never got {kind}: {found}")


# ---- item 1 --------------------------------------------------------------------------
async def test_department_extension_after_head_escalation_is_refused_and_the_case_goes_on(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G005")
    inp = case_input(grids, "red_light_running", at)
    sla, esc = inp.policy.case_type.sla, inp.policy.escalation
    police = Actor(role="department", id="traffic_police")
    handle = await open_case(env.client, inp)
    await wait_for(handle, lambda v: v.status == "escalated")
    await handle.execute_update(
        "department_accept", DepartmentAccept(actor=police, idempotency_key=key())
    )
    await env.sleep(sla.department + timedelta(minutes=1))
    await wait_for(handle, lambda v: any(e.kind == "supervisor_urge" for e in v.timeline))
    await env.sleep(sla.department * esc.urge_grace_fraction + timedelta(minutes=1))
    head = await wait_for(
        handle, lambda v: any(e.kind == "department_head_escalation" for e in v.timeline)
    )
    assert head.deadline is None

    ask = DepartmentExtension(
        actor=police, idempotency_key=key(), extra=timedelta(hours=1), reason="需要更多时间"
    )
    # before the fix the validator let it through and the handler's assert failed the
    # workflow task on every retry: the update never answered
    cause = await asyncio.wait_for(rejected(handle.execute_update("department_extension", ask)), 20)
    assert cause.type == "escalated_to_head"
    # the case is not stalled: the department's result still goes through
    await asyncio.wait_for(
        handle.execute_update(
            "department_report",
            DepartmentReport(actor=police, idempotency_key=key(), note="已处理"),
        ),
        20,
    )
    assert (await view(handle)).status == "resolved"


# ---- item 3 --------------------------------------------------------------------------
async def test_reassign_without_a_name_never_goes_back_to_the_steward_who_ignored_it(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G050")
    s1, s2, _ = await place_stewards(sessions, grids, at, 3)
    handle = await open_case(env.client, case_input(grids, "illegal_parking", at))
    await wait_for(handle, lambda v: v.status == "dispatched" and v.steward_id == s1)
    await handle.execute_update(
        "reassign", ReassignCase(actor=SUPERVISOR, idempotency_key=key(), reason="无人应答")
    )
    again = await wait_for(handle, lambda v: sum(e.kind == "dispatched" for e in v.timeline) == 2)
    offers = [e.data["steward"] for e in again.timeline if e.kind == "dispatched"]
    assert offers == [s1, s2]
    # s1 was told the task went elsewhere
    assert "reassigned" in {k for r, k, _ in await messages(sessions, again.case_id) if r == s1}


async def test_reassign_to_a_steward_who_cannot_take_it_is_409_and_changes_nothing(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    api: httpx.AsyncClient,
    settings: Settings,
) -> None:
    at = grid_point(grids, "G051")
    s1, s2, full, off = await place_stewards(sessions, grids, at, 4)
    (unskilled,) = await place_stewards(sessions, grids, at, 1, skills=["mediation"])
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE steward SET active_tasks = capacity WHERE id = :s"), {"s": full}
        )
        await session.execute(
            text("UPDATE steward SET duty_state = 'off_duty' WHERE id = :s"), {"s": off}
        )
    inp = case_input(grids, "illegal_parking", at)
    handle = await open_case(env.client, inp)
    await wait_for(handle, lambda v: v.status == "dispatched" and v.steward_id == s1)
    url = f"/supervisors/cases/{inp.case_id}/reassign"
    for named, words in (
        (full, "full"),
        (off, "off_duty"),
        ("NOBODY-404", "no steward"),
        (unskilled, "traffic"),
    ):
        answer = await api.post(
            url, json={"steward_id": named, "reason": "指定人员"}, headers=bearer(settings)
        )
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"] == "steward_unavailable"
        assert words in answer.json()["message"]
    current = await view(handle)
    assert (current.status, current.steward_id) == ("dispatched", s1)
    assert "reassigned" not in [e.kind for e in current.timeline]

    headers = {**bearer(settings), "Idempotency-Key": key()}
    body = {"steward_id": s2, "reason": "指定人员"}
    ok = await api.post(url, json=body, headers=headers)
    assert ok.status_code == 200, ok.text
    moved = await wait_for(handle, lambda v: v.status == "dispatched" and v.steward_id == s2)
    assert "named_steward_unavailable" not in [e.kind for e in moved.timeline]
    # s2 is full now (with this very case): the retry still gets its first answer
    again = await api.post(url, json=body, headers=headers)
    assert (again.status_code, again.json()) == (200, ok.json())


async def test_named_steward_lost_to_a_race_is_recorded_and_the_last_offered_is_skipped(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G052")
    s1, s2, s3 = await place_stewards(sessions, grids, at, 3)
    handle = await open_case(env.client, case_input(grids, "illegal_parking", at))
    await wait_for(handle, lambda v: v.status == "dispatched" and v.steward_id == s1)
    async with sessions() as session, session.begin():  # s3 went off duty after the check
        await session.execute(
            text("UPDATE steward SET duty_state = 'off_duty' WHERE id = :s"), {"s": s3}
        )
    await handle.execute_update(
        "reassign",
        ReassignCase(actor=SUPERVISOR, idempotency_key=key(), steward_id=s3, reason="指定"),
    )
    again = await wait_for(handle, lambda v: sum(e.kind == "dispatched" for e in v.timeline) == 2)
    lost = next(e for e in again.timeline if e.kind == "named_steward_unavailable")
    assert lost.data == {"named": s3, "instead": s2}
    assert again.steward_id == s2  # the nearest other one, not s1 who let it lie
    await handle.execute_update(
        "cancel", CancelCase(actor=SUPERVISOR, idempotency_key=key(), reason="测试结束")
    )
    await handle.result()
    await save_history(handle, "reassign_named_lost_cancelled")


# ---- item 4 --------------------------------------------------------------------------
async def test_cancel_tells_the_steward_holding_the_offer_with_the_reason(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G053")
    (s1,) = await place_stewards(sessions, grids, at, 1)
    handle = await open_case(env.client, case_input(grids, "garbage", at))
    case = await wait_for(handle, lambda v: v.status == "dispatched" and v.steward_id == s1)
    await handle.execute_update(
        "cancel", CancelCase(actor=SUPERVISOR, idempotency_key=key(), reason="重复上报")
    )
    assert (await handle.result()).status == "cancelled"
    found = await told(sessions, case.case_id, s1, "case_cancelled")
    text_ = next(t for r, k, t in found if (r, k) == (s1, "case_cancelled"))
    assert "重复上报" in text_ and "撤销" in text_
    sent = await payload_of(sessions, case.case_id, s1, "case_cancelled")
    assert (sent["ended"], sent["reason"], sent["merged_into"]) == ("cancelled", "重复上报", None)
    await save_history(handle, "cancel_tells_the_offered_steward")


async def test_merge_tells_the_working_steward_which_case_it_joined(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex, api: httpx.AsyncClient,
    settings: Settings,
) -> None:  # fmt: skip
    at = grid_point(grids, "G054")
    s1, _ = await place_stewards(sessions, grids, at, 2)
    first = await open_case(env.client, case_input(grids, "garbage", at))
    case = await wait_for(first, lambda v: v.status == "dispatched" and v.steward_id == s1)
    await first.execute_update("accept_task", AcceptTask(actor=steward(s1), idempotency_key=key()))
    target = case_input(grids, "garbage", at)
    await open_case(env.client, target)
    answer = await api.post(
        f"/supervisors/cases/{case.case_id}/merge",
        json={"target_case_id": target.case_id, "reason": "同一堆垃圾"},
        headers=bearer(settings),
    )
    assert answer.status_code == 200, answer.text
    found = await told(sessions, case.case_id, s1, "case_cancelled")
    text_ = next(t for r, k, t in found if (r, k) == (s1, "case_cancelled"))
    assert target.case_id in text_ and "同一堆垃圾" in text_
    sent = await payload_of(sessions, case.case_id, s1, "case_cancelled")
    assert (sent["ended"], sent["merged_into"]) == ("merged", target.case_id)


async def test_both_path_confirming_steward_hears_that_the_case_closed(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G055")
    (s1,) = await place_stewards(sessions, grids, at, 1)
    handle = await open_case(env.client, case_input(grids, "smoke_alarm", at))
    await wait_for(handle, lambda v: any(e.kind == "confirm_dispatched" for e in v.timeline))
    await handle.execute_update("accept_task", AcceptTask(actor=steward(s1), idempotency_key=key()))
    await handle.execute_update(
        "report_resolved", ReportResolved(actor=steward(s1), idempotency_key=key(), note="误报")
    )
    fire = Actor(role="department", id="fire")
    await handle.execute_update(
        "department_report", DepartmentReport(actor=fire, idempotency_key=key(), note="误报")
    )
    await handle.execute_update(
        "verify", VerifyResult(actor=SUPERVISOR, idempotency_key=key(), passed=True)
    )
    result = await handle.result()
    assert result.status == "closed"
    await told(sessions, result.case_id, s1, "case_closed")
    await save_history(handle, "both_paths_confirmer_told_closed")


# ---- item 5 --------------------------------------------------------------------------
async def listed_as(
    api: httpx.AsyncClient, settings: Settings, handle: WorkflowHandle[Any, Any]
) -> dict[str, Any]:
    """Poll ``GET /cases`` until its row says what the workflow rests in (or fail)."""
    live = await view(handle)
    assert live.deadline is not None
    row: dict[str, Any] = {}
    for _ in range(100):
        page = await api.get("/cases", params={"grid_id": live.grid_id}, headers=bearer(settings))
        assert page.status_code == 200, page.text
        row = next((c for c in page.json()["items"] if c["case_id"] == live.case_id), {})
        deadline = row.get("deadline")
        if (
            row.get("waiting_for") == live.waiting_for
            and deadline is not None
            and datetime.fromisoformat(deadline) == live.deadline
        ):
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"listed {row} while the case waits for {live.waiting_for}")


async def test_the_list_shows_the_stage_a_resting_case_waits_in(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    api: httpx.AsyncClient,
    settings: Settings,
) -> None:
    at = grid_point(grids, "G056")
    (s1,) = await place_stewards(sessions, grids, at, 1)
    handle = await open_case(env.client, case_input(grids, "illegal_parking", at))
    await wait_for(handle, lambda v: v.status == "dispatched")
    await handle.execute_update("accept_task", AcceptTask(actor=steward(s1), idempotency_key=key()))
    await wait_for(handle, lambda v: v.waiting_for == "steward to solve it")
    row = await listed_as(api, settings, handle)
    assert row["status"] == "accepted"

    await handle.execute_update(
        "report_resolved", ReportResolved(actor=steward(s1), idempotency_key=key(), note="已挪车")
    )
    await wait_for(handle, lambda v: v.waiting_for.startswith("verification"))
    row = await listed_as(api, settings, handle)
    assert row["status"] == "resolved"
