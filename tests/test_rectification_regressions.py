"""Regression tests for rectification defects found while modelling ``RectificationWorkflow``.

R1 (found reading the workflow for its model, then shown here): a hazard escalated once,
then proven, then failed at re-inspection (rework), then overdue again gets
``enforcement_overdue`` and its department is told to enforce, but the department's
``record_enforcement`` was refused with ``wrong_stage`` (the status said ``rectifying``).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from constants import rectification_workflow_id
from schemas.inspections.checklists import FormItem, default_checklists
from schemas.inspections.rectification import RectificationInput, RectificationView
from schemas.inspections.workflow import EnterpriseRef
from schemas.platform.common import Actor, GeoPoint
from settings import Settings
from tests.model.doors import Doors
from tests.support import SUPERVISOR

pytestmark = pytest.mark.usefixtures("worker")


async def test_r1_enforcement_is_taken_when_a_reworked_hazard_is_overdue_again(
    api: httpx.AsyncClient, env: WorkflowEnvironment, settings: Settings
) -> None:
    checklists = default_checklists()
    item = next(i for i in checklists.items if i.department == "environment")
    answer = next(a for a in item.answers if a.severity == "major")
    enterprise = EnterpriseRef(
        id="ET-R1" + uuid.uuid4().hex[:6].upper(), name="测试化工", grid_id="G001",
        location=GeoPoint(lat=30.745, lon=120.487), industry="chemical", risk_level="high",
        hazardous_chemicals=True,
    )  # fmt: skip
    rid = "INS-R1" + uuid.uuid4().hex[:6].upper() + "-H01"
    inp = RectificationInput(
        rectification_id=rid, inspection_id=rid[:-4], enterprise=enterprise,
        item=FormItem(**item.model_dump(exclude={"applies"})), answer=answer.code,
        severity="major", found_at=await env.get_current_time(), found_by=SUPERVISOR,
        policy=checklists.rectification,
    )  # fmt: skip
    handle = await env.client.start_workflow(
        "RectificationWorkflow", inp, id=rectification_workflow_id(rid), task_queue="gridplus-test"
    )
    door = Doors.of(api, settings)
    company = Actor(role="enterprise", id=enterprise.id)
    environment = Actor(role="department", id="environment")

    async def status(until: str) -> RectificationView:
        """The view once its last entry is ``until`` (activities run in real time)."""
        for _ in range(400):
            view: RectificationView = await handle.query("view", result_type=RectificationView)
            if view.timeline and view.timeline[-1].kind == until:
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"{rid}: never reached {until}: {[e.kind for e in view.timeline]}")

    span = checklists.rectification.deadlines["major"]
    await env.sleep(span + timedelta(seconds=1))
    await status("escalated")
    proof = {"note": "已整改", "evidence": [{"kind": "photo", "url": "https://e.example/p.jpg"}]}
    proof_path = f"/enterprises/{enterprise.id}/rectifications/{rid}/proof"
    assert (await door.post(proof_path, company, proof)).ok
    reinspection = f"/rectifications/{rid}/reinspection"
    assert (await door.post(reinspection, environment, {"passed": False, "note": "未完成"})).ok
    await env.sleep(span + timedelta(seconds=1))
    overdue = await status("enforcement_overdue")
    assert overdue.escalated and overdue.overdue
    enforcement = {"measure": "fine", "note": "逾期未改", "extra": 5 * 86400}
    answer_ = await door.post(f"/rectifications/{rid}/enforcement", environment, enforcement)
    assert answer_.ok, answer_.body
    assert (await status("enforcement")).deadline is not None
    await handle.terminate("test over")


async def test_r2_an_ended_rectification_refuses_with_the_validators_code(
    api: httpx.AsyncClient, env: WorkflowEnvironment, settings: Settings
) -> None:
    """Walker: cancel a hazard, then re-inspect it: ``rectification_ended`` both while the
    workflow drains (its validator) and after it completed (was the generic ``ended``)."""
    door = Doors.of(api, settings)
    checklists = default_checklists()
    item = next(i for i in checklists.items if i.department == "fire")
    rid = "INS-R2" + uuid.uuid4().hex[:6].upper() + "-H01"
    enterprise = EnterpriseRef(
        id="ET-R2" + uuid.uuid4().hex[:6].upper(), name="测试", grid_id="G001",
        location=GeoPoint(lat=30.745, lon=120.487), industry="chemical", risk_level="high",
        hazardous_chemicals=True,
    )  # fmt: skip
    inp = RectificationInput(
        rectification_id=rid, inspection_id=rid[:-4], enterprise=enterprise,
        item=FormItem(**item.model_dump(exclude={"applies"})), answer=item.answers[0].code,
        severity=item.answers[0].severity, found_at=await env.get_current_time(),
        found_by=SUPERVISOR, policy=checklists.rectification,
    )  # fmt: skip
    handle = await env.client.start_workflow(
        "RectificationWorkflow", inp, id=rectification_workflow_id(rid), task_queue="gridplus-test"
    )
    cancel = await door.post(f"/rectifications/{rid}/cancel", SUPERVISOR, {"reason": "error"})
    assert cancel.ok
    await handle.result()
    fire = Actor(role="department", id="fire")
    late = await door.post(f"/rectifications/{rid}/reinspection", fire, {"passed": True})
    assert (late.status, late.code) == (409, "rectification_ended")
