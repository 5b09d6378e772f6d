"""Idempotency keys on inspections and hazards (issue 11, item 6), on the real Temporal
test server: the validators of both workflows refuse a key reused by another caller,
update or body, and answer an exact repeat from memory."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from schemas.common import Actor, Evidence, GeoPoint
from schemas.inspection_flow import CancelInspection, FinishVisit, RecordResults, StartVisit
from schemas.rectification import CancelRectification, SubmitProof
from services.db import SessionFactory
from services.geo import GridIndex
from tests.inspection_support import (
    SUPERVISOR,
    add_enterprise,
    add_inspectors,
    inspector,
    key,
    open_inspection,
    rectification,
    results,
    terminate_open,
    wait_hazard,
    wait_view,
)

pytestmark = pytest.mark.usefixtures("worker")

PHOTO = [Evidence(kind="photo", url="https://example.org/fixed.jpg")]
FIRE_EXITS = "fire.exits"


async def reused(coro: Any) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await coro
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "idempotency_key_reused", cause.message


async def test_reused_keys_are_refused_on_inspections_and_hazards(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    enterprise_id = await add_enterprise(sessions, grids, "G044")
    await add_inspectors(sessions, "G044", 1)
    handle = await open_inspection(env.client, sessions, enterprise_id)
    scheduled = await wait_view(handle, lambda v: v.status == "scheduled")
    assert scheduled.inspector_id is not None
    me = inspector(scheduled.inspector_id)

    visit_key = key()
    visiting = await handle.execute_update(
        "start_visit", StartVisit(actor=me, idempotency_key=visit_key)
    )
    cancel = CancelInspection(actor=SUPERVISOR, idempotency_key=visit_key, reason="停产")
    await reused(handle.execute_update("cancel", cancel))
    elsewhere = StartVisit(
        actor=me, idempotency_key=visit_key, location=GeoPoint(lat=30.7, lon=120.5)
    )
    await reused(handle.execute_update("start_visit", elsewhere))
    again = await handle.execute_update(
        "start_visit", StartVisit(actor=me, idempotency_key=visit_key)
    )
    assert again == visiting
    view = await wait_view(handle, lambda v: v.status == "visiting")

    answers = RecordResults(
        actor=me, idempotency_key=key(), items=results(view, {FIRE_EXITS: "blocked"})
    )
    await handle.execute_update("record_results", answers)
    await handle.execute_update("finish_visit", FinishVisit(actor=me, idempotency_key=key()))
    reported = await wait_view(handle, lambda v: v.waiting_for.startswith("rectification"))
    rid = next(s.rectification_id for s in reported.items if s.rectification_id)
    assert rid is not None
    hazard = rectification(env.client, rid)

    company = Actor(role="enterprise", id=enterprise_id)
    proof_key = key()
    proof = SubmitProof(actor=company, idempotency_key=proof_key, note="已清理", evidence=PHOTO)
    first = await hazard.execute_update("submit_proof", proof)
    wrong = CancelRectification(actor=SUPERVISOR, idempotency_key=proof_key, reason="录入错误")
    await reused(hazard.execute_update("cancel", wrong))
    await reused(hazard.execute_update("submit_proof", proof.model_copy(update={"note": "改"})))
    assert await hazard.execute_update("submit_proof", proof) == first
    current = await wait_hazard(hazard, lambda v: v.status == "proof_submitted")
    assert [e.kind for e in current.timeline].count("proof_submitted") == 1
    await terminate_open(env.client, [hazard.id, handle.id])
