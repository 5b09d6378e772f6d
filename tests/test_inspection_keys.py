"""Idempotency keys on inspections and hazards, on the real Temporal
test server: the validators of both workflows refuse a key reused by another caller,
update or body, and answer an exact repeat from memory."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from api.security import issue_token
from constants import campaign_workflow_id, inspection_workflow_id
from schemas.inspections.rectification import CancelRectification, SubmitProof
from schemas.inspections.workflow import CancelInspection, FinishVisit, RecordResults, StartVisit
from schemas.platform.common import Actor, Evidence, GeoPoint
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
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


async def test_creates_under_a_used_key_with_another_body_are_refused(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    enterprise_id = await add_enterprise(sessions, grids, "G045")
    token = issue_token(
        settings.api_token_secret.get_secret_value(), Actor(role="supervisor", id="center-wang")
    )
    once = {"Authorization": f"Bearer {token}", "Idempotency-Key": key()}
    request = {"enterprise_id": enterprise_id, "reason": "专项检查"}
    started = await api.post("/inspections", json=request, headers=once)
    assert started.status_code == 202, started.text
    repeat = await api.post("/inspections", json=request, headers=once)
    assert repeat.json()["created"] is False
    assert repeat.json()["inspection_id"] == started.json()["inspection_id"]
    other = await api.post("/inspections", json={**request, "reason": "复查"}, headers=once)
    assert other.status_code == 409, other.text
    assert other.json()["error"] == "idempotency_key_reused"

    headers = {"Authorization": f"Bearer {token}"}
    round_ = {"campaign_id": f"CK-{enterprise_id}", "filter": {"enterprise_ids": [enterprise_id]}}
    assert (await api.post("/campaigns", json=round_, headers=headers)).status_code == 202
    same = await api.post("/campaigns", json=round_, headers=headers)
    assert same.status_code == 202 and same.json()["created"] is False
    changed = {**round_, "filter": {"enterprise_ids": [enterprise_id, "ET-OTHER"]}}
    refused = await api.post("/campaigns", json=changed, headers=headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "idempotency_key_reused"
    inspection = inspection_workflow_id(started.json()["inspection_id"])
    await terminate_open(env.client, [inspection, campaign_workflow_id(f"CK-{enterprise_id}")])
