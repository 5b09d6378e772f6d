"""Issue 12, items 2, 6 and 7: the doors into a case and what they must refuse or keep.

* a device-opened case files before its first evidence (update-with-start);
* verification by someone other than the handler: the on-site steward through the bot
  (``verify_request`` with ``verify_pass`` / ``verify_fail``), or a sensor's recovery;
* a campaign whose input would overflow the workflow's clock is a 422, not a stalled round.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from constants import case_workflow_id
from schemas.cases.catalog import CaseType, default_catalog
from schemas.cases.workflow import (
    AcceptTask,
    AddEvidence,
    CancelCase,
    DepartmentReport,
    ReportRecovery,
    ReportResolved,
    VerifyResult,
)
from schemas.inspections.checklists import RectificationPolicy, VisitModel, default_checklists
from schemas.platform.common import Actor, Evidence
from services.cases.attach import attach
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import app_client, detection, device, post, until
from tests.support import (
    SUPERVISOR,
    TASK_QUEUE,
    case_input,
    grid_point,
    key,
    open_case,
    place_stewards,
    save_history,
    track,
    wait_for,
)
from tests.test_bot import api as bot_api  # noqa: F401
from tests.test_bot import (  # noqa: F401  (module fixtures: the fake gateway and its worker)
    bot_settings,
    bot_worker,
    gateway,
    open_bot_case,
    press,
    secret,
)
from tests.test_bot import post as bot_post
from tests.test_case_loop import bearer
from tests.test_case_workflow import rejected, steward
from tools.fake_gateway import FakeGateway, Message

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


@pytest.fixture
async def devices_api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(env, sessions, settings) as client:
        yield client


# ---- item 6 --------------------------------------------------------------------------
async def test_a_device_opened_case_files_with_the_first_detection_as_its_evidence(
    devices_api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    """The scene's first detection starts its case (answered once the start is recorded):
    its snapshot is the filing's evidence, not a second ``evidence_added`` of the same."""
    camera = await device(sessions, grids, "G021")
    body = detection()
    answer = await post(devices_api, camera, "detections", body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["outcome"] == "opened"
    case_id = track(answer.json()["case_id"])
    view = await until(env, case_id, lambda v: len(v.timeline) >= 2)
    first = view.timeline[0]
    assert (first.seq, first.kind, first.status) == (1, "filed", "filed")
    assert [e.url for e in first.evidence] == [body["snapshot_url"]]
    assert "evidence_added" not in {e.kind for e in view.timeline}


async def test_a_case_started_by_an_update_files_before_the_updates_evidence(
    env: WorkflowEnvironment, grids: GridIndex
) -> None:
    """A later report of a scene that reaches Temporal before the opener's start does start
    the case by update-with-start: its update runs before ``run``, and the case still
    files first."""
    inp = case_input(grids, "illegal_parking", grid_point(grids, "G021"))
    camera = Actor(role="device", id="cam-G021")
    snapshot = Evidence(kind="snapshot", url="https://cams.example/snap/first.jpg")
    action = AddEvidence(actor=camera, idempotency_key=key(), evidence=[snapshot])
    outcome = await attach(env.client, inp, action, TASK_QUEUE)
    assert outcome.seq >= 1
    handle = env.client.get_workflow_handle(case_workflow_id(track(inp.case_id)))
    view = await wait_for(handle, lambda v: len(v.timeline) >= 2)
    first, second = view.timeline[:2]
    assert (first.seq, first.kind, first.status) == (1, "filed", "filed")
    assert (second.kind, second.status) == ("evidence_added", "filed")
    await handle.execute_update(
        "cancel", CancelCase(actor=SUPERVISOR, idempotency_key=key(), reason="测试结束")
    )
    await handle.result()
    await save_history(handle, "device_filed_first_cancelled")


# ---- item 7: a sensor's re-check -------------------------------------------------------
async def test_a_sensor_recovery_verifies_a_result_the_department_reported(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G022")
    handle = await open_case(env.client, case_input(grids, "manhole_cover", at))
    await wait_for(handle, lambda v: v.status == "escalated")
    city = Actor(role="department", id="urban_management")
    await handle.execute_update(
        "department_report", DepartmentReport(actor=city, idempotency_key=key(), note="已更换井盖")
    )
    await wait_for(handle, lambda v: v.waiting_for.startswith("verification"))
    sensor = Actor(role="device", id="manhole-0022")
    await handle.execute_update(
        "report_recovery", ReportRecovery(actor=sensor, idempotency_key=key(), note="井盖复位")
    )
    result = await handle.result()
    assert result.status == "closed"
    final = await wait_for(handle, lambda v: True)
    verified = next(e for e in final.timeline if e.kind == "verified")
    assert verified.actor == sensor
    await save_history(handle, "sensor_recheck_verified_closed")


# ---- item 7: a steward's verification through the bot ---------------------------------
async def wait_message(fake: FakeGateway, case_id: str, steward_id: str, kind: str) -> Message:
    return await fake.wait_for(
        lambda m: (m["case_id"], m["steward_id"], m["kind"]) == (case_id, steward_id, kind)
    )


async def test_the_on_site_steward_verifies_the_departments_result_through_the_bot(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,  # noqa: F811
    bot_api: httpx.AsyncClient,  # noqa: F811
    secret: str,  # noqa: F811
    bot_worker: Worker,  # noqa: F811
) -> None:
    at = grid_point(grids, "G023")
    (s1,) = await place_stewards(sessions, grids, at, 1)
    inp = case_input(grids, "smoke_alarm", at)
    handle = await open_bot_case(env, inp)
    task = await wait_message(gateway, inp.case_id, s1, "confirm_task")
    assert (await bot_post(bot_api, secret, press(task, "accept"))).json()["result"] == "accepted"
    done = press(task, "resolved", note="现场确认：厨房油烟")
    assert (await bot_post(bot_api, secret, done)).json()["result"] == "accepted"
    fire = Actor(role="department", id="fire")
    await handle.execute_update(
        "department_report", DepartmentReport(actor=fire, idempotency_key=key(), note="误报")
    )
    ask = await wait_message(gateway, inp.case_id, s1, "verify_request")
    assert {a["action"] for a in ask["actions"]} == {"verify_pass", "verify_fail"}
    assert "核查" in ask["text"]

    failed = await bot_post(bot_api, secret, press(ask, "verify_fail", note="仍有烟味"))
    assert failed.json()["result"] == "accepted", failed.text
    assert "退回" in failed.json()["message"]
    await wait_for(handle, lambda v: v.status == "department_handling")
    await handle.execute_update(
        "department_report", DepartmentReport(actor=fire, idempotency_key=key(), note="已通风")
    )
    await wait_for(handle, lambda v: v.status == "resolved")
    passed = await bot_post(bot_api, secret, press(ask, "verify_pass"))
    assert passed.json()["result"] == "accepted", passed.text
    assert "核查通过" in passed.json()["message"]
    result = await handle.result()
    assert (result["status"], result["rework_count"]) == ("closed", 1)
    final = await wait_for(handle, lambda v: True)
    verdicts = [(e.kind, e.actor) for e in final.timeline if e.actor == steward(s1)]
    assert ("verification_failed", steward(s1)) in verdicts
    assert ("verified", steward(s1)) in verdicts
    await wait_message(gateway, inp.case_id, s1, "case_closed")
    await save_history(handle, "bot_verify_failed_then_passed_closed")


async def test_the_steward_who_resolved_it_cannot_verify_it(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G024")
    (s1,) = await place_stewards(sessions, grids, at, 1)
    handle = await open_case(env.client, case_input(grids, "garbage", at))
    await wait_for(handle, lambda v: v.status == "dispatched")
    await handle.execute_update("accept_task", AcceptTask(actor=steward(s1), idempotency_key=key()))
    await handle.execute_update(
        "report_resolved", ReportResolved(actor=steward(s1), idempotency_key=key(), note="已清理")
    )
    await wait_for(handle, lambda v: v.status == "resolved")
    cause = await rejected(
        handle.execute_update(
            "verify", VerifyResult(actor=steward(s1), idempotency_key=key(), passed=True)
        )
    )
    assert cause.type == "self_verification"


# ---- item 2 --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target_window": "P999999999D"}, "target_window"),
        ({"target_window": "P9999999999D"}, "target_window"),
        ({"target_window": "P367D"}, "target_window"),
        ({"target_window": "PT0S"}, "target_window"),
        ({"filter": {"risk_levels": ["high"] * 11}}, "filter.risk_levels"),
    ],
)
async def test_a_campaign_input_the_workflow_cannot_run_is_a_422_naming_the_field(
    api: httpx.AsyncClient, settings: Settings, body: dict[str, Any], field: str
) -> None:
    answer = await api.post(
        "/campaigns", json={"campaign_id": f"CA-{key()[2:14]}", **body}, headers=bearer(settings)
    )
    assert answer.status_code == 422, answer.text
    assert any(f.endswith(field) for f in answer.json()["fields"]), answer.json()


@pytest.mark.parametrize("span", ["P999999999D", "P367D"])
def test_a_catalog_sla_that_would_overflow_a_case_deadline_is_refused_at_load(span: str) -> None:
    entry = default_catalog().case_type("garbage")
    assert entry is not None
    raw = entry.model_dump(mode="json")
    raw["sla"]["resolve"] = span
    with pytest.raises(ValidationError, match=r"sla\.resolve must be at most 366 days"):
        CaseType.model_validate(raw)


def test_inspection_spans_that_would_overflow_a_workflow_deadline_are_refused_at_load() -> None:
    checklists = default_checklists()
    visit = checklists.visit.model_dump(mode="json")
    with pytest.raises(ValidationError, match="results_grace"):
        VisitModel.model_validate({**visit, "results_grace": "P999999999D"})
    policy = checklists.rectification.model_dump(mode="json")
    with pytest.raises(ValidationError, match="reinspection"):
        RectificationPolicy.model_validate({**policy, "reinspection": "P999999999D"})
    deadlines = {**policy["deadlines"], "minor": "P999999999D"}
    with pytest.raises(ValidationError, match=r"deadlines\.minor"):
        RectificationPolicy.model_validate({**policy, "deadlines": deadlines})
