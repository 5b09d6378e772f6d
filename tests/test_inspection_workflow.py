"""Joint inspection and rectification on the real time-skipping Temporal server and a real DB."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from constants import inspection_workflow_id
from schemas.inspections.rectification import (
    RecordEnforcement,
    RectificationResult,
    Reinspect,
    SubmitProof,
)
from schemas.inspections.workflow import (
    CancelInspection,
    FinishVisit,
    InspectionResult,
    ItemResult,
    RecordResults,
    StartInspection,
    StartVisit,
)
from schemas.platform.common import Actor, Evidence
from services.inspections.operations import start_inspection_workflow
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.inspection_support import (
    SUPERVISOR,
    TASK_QUEUE,
    add_enterprise,
    add_inspectors,
    inspector,
    key,
    open_inspection,
    rectification,
    results,
    wait_hazard,
    wait_view,
)
from tests.support import count_rows, save_history

pytestmark = pytest.mark.usefixtures("worker")

PHOTO = [Evidence(kind="photo", url="https://example.org/fixed.jpg")]
FIRE_EXITS = "fire.exits"  # blocked -> critical (3 days)
DISCHARGE = "environment.discharge_permit"  # no_permit -> major (15 days)
INSTRUMENTS = "market_regulation.measuring_instruments"  # overdue -> minor (30 days)


async def rejected(coro: Any) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await coro
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_three_departments_three_rectifications(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    enterprise_id = await add_enterprise(sessions, grids, "G031")
    mine, other = await add_inspectors(sessions, "G031", 2)
    handle = await open_inspection(env.client, sessions, enterprise_id)
    scheduled = await wait_view(handle, lambda v: v.status == "scheduled")
    assert scheduled.inspector_id in (mine, other)
    booked = scheduled.inspector_id
    assert booked is not None
    stranger = other if booked == mine else mine
    assert set(scheduled.departments) == {
        "emergency_management", "fire", "environment", "market_regulation",
        "economic_development",
    }  # fmt: skip
    assert scheduled.visit_at is not None and scheduled.deadline is not None
    me = inspector(booked)

    # Only the booked inspector, only after check-in, only items of this form.
    first_results = RecordResults(
        actor=me, idempotency_key=key(), items=[ItemResult(item_code=FIRE_EXITS, outcome="pass")]
    )
    assert (await rejected(handle.execute_update("record_results", first_results))).type == (
        "wrong_stage"
    )
    intruder = StartVisit(actor=inspector(stranger), idempotency_key=key())
    assert (await rejected(handle.execute_update("start_visit", intruder))).type == "not_assigned"
    check_in = StartVisit(actor=me, idempotency_key=key())
    await handle.execute_update("start_visit", check_in)
    again = await handle.execute_update("start_visit", check_in)  # same key: same answer
    assert again["status"] == "visiting"
    unknown = RecordResults(
        actor=me,
        idempotency_key=key(),
        items=[ItemResult(item_code="fire.unicorns", outcome="pass")],
    )
    assert (await rejected(handle.execute_update("record_results", unknown))).type == (
        "unknown_item"
    )
    bad_answer = RecordResults(
        actor=me,
        idempotency_key=key(),
        items=[ItemResult(item_code=FIRE_EXITS, outcome="hazard", answer="expired")],
    )
    assert (await rejected(handle.execute_update("record_results", bad_answer))).type == (
        "unknown_answer"
    )
    too_early = FinishVisit(actor=me, idempotency_key=key())
    assert (await rejected(handle.execute_update("finish_visit", too_early))).type == "incomplete"

    view = await wait_view(handle, lambda v: v.status == "visiting")
    hazards = {FIRE_EXITS: "blocked", DISCHARGE: "no_permit", INSTRUMENTS: "overdue"}
    items = results(view, hazards)
    critical_first = RecordResults(
        actor=me,
        idempotency_key=key(),
        items=[
            i.model_copy(update={"evidence": PHOTO}) for i in items if i.item_code == FIRE_EXITS
        ],
    )
    await handle.execute_update("record_results", critical_first)
    # A critical hazard reaches its department at once, before the visit is over.
    for _ in range(100):
        sent = await count_rows(
            sessions,
            "SELECT count(*) FROM notification WHERE case_id = :c AND kind = 'critical_hazard'"
            " AND recipient = 'fire'",
            c=view.inspection_id,
        )
        if sent:
            break
        await asyncio.sleep(0.05)
    assert sent == 1
    rest = RecordResults(
        actor=me, idempotency_key=key(), items=[i for i in items if i.item_code != FIRE_EXITS]
    )
    outcome = await handle.execute_update("record_results", rest)
    assert outcome["message"].startswith(f"{len(items)}/{len(view.items)} answered, 3 hazards")
    await handle.execute_update("finish_visit", FinishVisit(actor=me, idempotency_key=key()))

    reported = await wait_view(
        handle, lambda v: v.status == "reported" and v.waiting_for.startswith("rectification")
    )
    by_code = {s.item.code: s for s in reported.items}
    assert {by_code[c].severity for c in hazards} == {"critical", "major", "minor"}
    rids = {c: by_code[c].rectification_id for c in hazards}
    assert all(rids.values())
    critical = rectification(env.client, str(rids[FIRE_EXITS]))
    major = rectification(env.client, str(rids[DISCHARGE]))
    minor = rectification(env.client, str(rids[INSTRUMENTS]))

    # One section per department covered; exactly three carry hazards.
    async def sections() -> list[dict[str, Any]]:
        async with sessions() as session:
            rows = await session.execute(
                text("SELECT body FROM notification WHERE case_id = :c AND kind = :k"),
                {"c": reported.inspection_id, "k": "inspection_section"},
            )
            return [b if isinstance(b, dict) else json.loads(b) for (b,) in rows]

    for _ in range(200):
        bodies = await sections()
        if len(bodies) == 5:
            break
        await asyncio.sleep(0.05)
    with_hazards = {b["department"]: b["section"]["hazards"] for b in bodies}
    assert with_hazards == {
        "emergency_management": 0, "fire": 1, "environment": 1, "market_regulation": 1,
        "economic_development": 0,
    }  # fmt: skip

    # Critical: proof by the enterprise, re-inspection passes -> closed.
    company = Actor(role="enterprise", id=enterprise_id)
    outsider = Actor(role="enterprise", id="E-OTHER")
    proof = SubmitProof(actor=outsider, idempotency_key=key(), note="已清理", evidence=PHOTO)
    assert (await rejected(critical.execute_update("submit_proof", proof))).type == (
        "forbidden_role"
    )
    early = Reinspect(actor=me, idempotency_key=key(), passed=True)
    assert (await rejected(critical.execute_update("reinspect", early))).type == "wrong_stage"
    proof = SubmitProof(actor=company, idempotency_key=key(), note="通道已清理", evidence=PHOTO)
    await critical.execute_update("submit_proof", proof)
    await critical.execute_update(
        "reinspect", Reinspect(actor=me, idempotency_key=key(), passed=True)
    )
    closed: RectificationResult = await critical.result()
    assert (closed.status, closed.escalated, closed.rework_count) == ("closed", False, 0)

    # Minor: proof, re-inspection fails (rework), new proof, the department passes it.
    await minor.execute_update("submit_proof", proof.model_copy(update={"idempotency_key": key()}))
    fail = Reinspect(actor=me, idempotency_key=key(), passed=False, note="未送检")
    await minor.execute_update("reinspect", fail)
    back = await wait_hazard(minor, lambda v: v.status == "rectifying" and v.rework_count == 1)
    assert back.deadline is not None
    await minor.execute_update("submit_proof", proof.model_copy(update={"idempotency_key": key()}))
    market = Actor(role="department", id="market_regulation")
    await minor.execute_update(
        "reinspect", Reinspect(actor=market, idempotency_key=key(), passed=True)
    )
    reworked: RectificationResult = await minor.result()
    assert (reworked.status, reworked.rework_count) == ("closed", 1)

    # Major: nothing happens; past its deadline it goes to the department for enforcement.
    before = await wait_hazard(major, lambda v: v.status == "rectifying")
    assert before.deadline is not None
    await env.sleep(timedelta(days=16))
    escalated = await wait_hazard(major, lambda v: v.status == "escalated")
    assert escalated.overdue and escalated.escalated
    for _ in range(100):
        told = await count_rows(
            sessions,
            "SELECT count(*) FROM notification WHERE case_id = :c AND kind = 'enforcement'"
            " AND recipient = 'environment'",
            c=escalated.rectification_id,
        )
        if told:
            break
        await asyncio.sleep(0.05)
    assert told == 1
    env_dept = Actor(role="department", id="environment")
    order = RecordEnforcement(
        actor=env_dept, idempotency_key=key(), measure="order", note="责令限期改正",
        extra=timedelta(days=10),
    )  # fmt: skip
    await major.execute_update("record_enforcement", order)
    await major.execute_update("submit_proof", proof.model_copy(update={"idempotency_key": key()}))
    await major.execute_update(
        "reinspect", Reinspect(actor=env_dept, idempotency_key=key(), passed=True)
    )
    enforced: RectificationResult = await major.result()
    assert (enforced.status, enforced.escalated) == ("closed", True)

    done: InspectionResult = await handle.result()
    assert (done.status, done.hazards, done.hazards_closed) == ("closed", 3, 3)
    assert (
        await count_rows(
            sessions,
            "SELECT count(*) FROM hazard_record WHERE inspection_id = :i AND status = 'closed'",
            i=done.inspection_id,
        )
        == 3
    )
    await save_history(handle, "inspection_three_departments_closed")
    await save_history(critical, "rectification_reinspected_closed")
    await save_history(minor, "rectification_rework_closed")
    await save_history(major, "rectification_escalated_enforced_closed")


async def test_cancel_before_the_visit_frees_the_slot(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    enterprise_id = await add_enterprise(sessions, grids, "G044", industry="textile",
                                         hazardous_chemicals=False, risk_level="low")  # fmt: skip
    (booked,) = await add_inspectors(sessions, "G044", 1)
    handle = await open_inspection(env.client, sessions, enterprise_id)
    view = await wait_view(handle, lambda v: v.status == "scheduled")
    assert view.inspector_id == booked
    not_center = CancelInspection(actor=inspector(booked), idempotency_key=key(), reason="x")
    assert (await rejected(handle.execute_update("cancel", not_center))).type == "forbidden_role"
    stop = CancelInspection(actor=SUPERVISOR, idempotency_key=key(), reason="企业已停产")
    await handle.execute_update("cancel", stop)
    result: InspectionResult = await handle.result()
    assert result.status == "cancelled"
    assert (
        await count_rows(
            sessions,
            "SELECT count(*) FROM inspection_booking WHERE inspection_id = :i AND active",
            i=result.inspection_id,
        )
        == 0
    )
    assert (
        await count_rows(
            sessions, "SELECT active_inspections FROM inspector WHERE id = :i", i=booked
        )
        == 0
    )
    await save_history(handle, "inspection_cancelled")


async def test_a_visit_not_made_in_time_goes_to_another_inspector(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    enterprise_id = await add_enterprise(
        sessions, grids, "G077", industry="food", hazardous_chemicals=False, risk_level="medium"
    )
    first, second = await add_inspectors(sessions, "G077", 2)
    now = await env.get_current_time()
    async with sessions() as session, session.begin():  # first is booked for three days
        await session.execute(
            text("UPDATE inspector SET booked_until = :t WHERE id = :i"),
            {"t": now + timedelta(days=3), "i": first},
        )
        await session.execute(text("UPDATE inspector SET on_duty = false WHERE id = :i"),
                              {"i": second})  # fmt: skip
    handle = await open_inspection(env.client, sessions, enterprise_id)
    booked = await wait_view(handle, lambda v: v.status == "scheduled")
    assert booked.inspector_id == first and booked.visit_at is not None
    assert booked.visit_at >= now + timedelta(days=3) and booked.deadline is not None

    await env.sleep(booked.visit_at - timedelta(hours=20) - now)  # the day before
    await wait_view(handle, lambda v: any(e.kind == "visit_reminder" for e in v.timeline))
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE inspector SET on_duty = true WHERE id = :i"),
                              {"i": second})  # fmt: skip
    await env.sleep(booked.deadline - await env.get_current_time() + timedelta(minutes=5))
    moved = await wait_view(handle, lambda v: v.inspector_id == second and v.status == "scheduled")
    assert moved.attempts == 2 and not moved.overdue
    assert "visit_overdue" in [e.kind for e in moved.timeline]
    for kind, recipient in (("visit_withdrawn", first), ("visit_overdue", "linkage_center")):
        assert await count_rows(
            sessions,
            "SELECT count(*) FROM notification WHERE case_id = :c AND kind = :k AND recipient = :r",
            c=moved.inspection_id, k=kind, r=recipient,
        ) == 1  # fmt: skip
    late = StartVisit(actor=inspector(first), idempotency_key=key())
    assert (await rejected(handle.execute_update("start_visit", late))).type == "not_assigned"
    await handle.execute_update(
        "cancel", CancelInspection(actor=SUPERVISOR, idempotency_key=key(), reason="test over")
    )
    assert (await handle.result()).status == "cancelled"
    await save_history(handle, "inspection_overdue_reassigned")


async def test_an_enterprise_gone_from_the_registry_ends_its_inspection_as_cancelled(
    env: WorkflowEnvironment,
) -> None:
    inp = StartInspection(
        inspection_id="JI-E-GONE-T1",
        enterprise_id="E-GONE",
        requested_by=SUPERVISOR,
        requested_at=await env.get_current_time(),
    )
    assert await start_inspection_workflow(
        env.client, inp, TASK_QUEUE, grid_id="G001", risk_level="low", source="campaign",
        summary="gone",
    )  # fmt: skip
    handle = env.client.get_workflow_handle(
        inspection_workflow_id(inp.inspection_id), result_type=InspectionResult
    )
    result: InspectionResult = await handle.result()
    assert (result.status, result.hazards) == ("cancelled", 0)
    await save_history(handle, "inspection_unknown_enterprise_cancelled")


async def test_no_qualified_inspector_waits_and_retries(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    enterprise_id = await add_enterprise(
        sessions, grids, "G099", industry="textile", hazardous_chemicals=False, risk_level="low"
    )
    trainees = ["emergency_management", "fire", "market_regulation", "economic_development"]
    await add_inspectors(sessions, "G099", 2, qualifications=trainees)  # no environment
    handle = await open_inspection(env.client, sessions, enterprise_id)
    waiting = await wait_view(handle, lambda v: v.status == "unassigned")
    assert waiting.inspector_id is None and waiting.attempts == 1
    (qualified,) = await add_inspectors(sessions, "G100", 1)  # a neighbouring grid, all five
    await env.sleep(timedelta(hours=4, minutes=1))
    booked = await wait_view(handle, lambda v: v.status == "scheduled")
    assert (booked.inspector_id, booked.attempts) == (qualified, 2)
    assert (
        await count_rows(
            sessions,
            "SELECT count(*) FROM notification WHERE case_id = :c AND kind = :k",
            c=booked.inspection_id,
            k="inspection_unassigned",
        )
        == 1
    )
    await handle.execute_update(
        "cancel", CancelInspection(actor=SUPERVISOR, idempotency_key=key(), reason="test over")
    )
    assert (await handle.result()).status == "cancelled"
    await save_history(handle, "inspection_unassigned_then_booked")
