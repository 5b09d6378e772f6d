"""IoT sensors through the real API, Temporal test server, worker and database."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.security import issue_token
from constants import case_workflow_id
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import api, device, now, post, until
from tests.support import place_stewards, track
from workflows.cases.workflow import CaseWorkflow

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
__all__ = ["api"]  # a fixture, imported


async def test_smoke_alarm_reaches_fire_and_a_steward_in_parallel(
    api: httpx.AsyncClient, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    sensor = await device(sessions, grids, "G033", "smoke_detector")
    stewards = await place_stewards(sessions, grids, sensor.at, 2)
    response = await post(
        api, sensor, "events", {"event": "alarm", "occurred_at": now().isoformat(), "value": 0.31}
    )
    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "opened"
    case_id = track(response.json()["case_id"])
    view = await until(
        env, case_id, lambda v: {"escalated", "confirm_dispatched"} <= {e.kind for e in v.timeline}
    )
    assert view.case_type == "smoke_alarm"
    assert view.priority == 1
    assert view.department == "fire"
    assert view.source == "sensor"
    confirm = next(e for e in view.timeline if e.kind == "confirm_dispatched")
    assert confirm.data["steward"] == stewards[0]
    # the department was notified without waiting for the steward, and vice versa
    assert "department_accepted" not in {e.kind for e in view.timeline}
    assert "confirm_accepted" not in {e.kind for e in view.timeline}


async def test_flapping_sensor_makes_one_case_until_quiet_after_recovery(
    api: httpx.AsyncClient, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    sensor = await device(sessions, grids, "G061", "smoke_detector")
    t0 = now() - timedelta(minutes=40)
    flaps = ["alarm", "recovery", "alarm", "recovery", "alarm", "recovery"]
    outcomes, cases = [], set()
    for i, event in enumerate(flaps):
        at = t0 + timedelta(seconds=40 * i)
        response = await post(
            api, sensor, "events", {"event": event, "occurred_at": at.isoformat()}
        )
        assert response.status_code == 202, response.text
        outcomes.append(response.json()["outcome"])
        cases.add(response.json()["case_id"])
    assert outcomes == ["opened", "recovered", "merged", "recovered", "merged", "recovered"]
    assert len(cases) == 1
    case_id = track(cases.pop())
    view = await until(
        env, case_id, lambda v: sum(e.kind == "sensor_recovered" for e in v.timeline) == 3
    )
    assert view.status == "resolved"  # smoke cleared: waiting for verification
    assert view.timeline[0].kind == "filed" and view.timeline[0].evidence  # the first alarm
    assert sum(e.kind == "evidence_added" for e in view.timeline) == 2  # the other two

    # an alarm more than the merge window after the last recovery is a new incident
    late = t0 + timedelta(seconds=40 * 5) + timedelta(minutes=11)
    response = await post(
        api, sensor, "events", {"event": "alarm", "occurred_at": late.isoformat()}
    )
    assert response.json()["outcome"] == "opened"
    assert track(response.json()["case_id"]) != case_id


async def test_recovery_moves_to_verification_then_closed_then_a_new_alarm_is_a_new_case(
    api: httpx.AsyncClient, env: WorkflowEnvironment, settings: Settings,
    sessions: SessionFactory, grids: GridIndex,
) -> None:  # fmt: skip
    sensor = await device(sessions, grids, "G072", "manhole_cover")
    alarm = await post(api, sensor, "events", {"event": "alarm", "occurred_at": now().isoformat()})
    case_id = track(alarm.json()["case_id"])
    await until(env, case_id, lambda v: v.status == "escalated")
    recovery = await post(
        api, sensor, "events",
        {"event": "recovery", "occurred_at": now().isoformat(), "note": "cover back in place"},
    )  # fmt: skip
    assert recovery.json()["outcome"] == "recovered"
    assert recovery.json()["case_id"] == case_id
    view = await until(env, case_id, lambda v: v.waiting_for.startswith("verification"))
    assert view.status == "resolved"

    token = issue_token(
        settings.api_token_secret.get_secret_value(), Actor(role="supervisor", id="wang")
    )
    verified = await api.post(
        f"/supervisors/cases/{case_id}/verify", json={"passed": True, "note": "checked on CCTV"},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"verify-{case_id}"},
    )  # fmt: skip
    assert verified.status_code == 200, verified.text
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(case_id))
    assert (await handle.result()).status == "closed"

    again = await post(api, sensor, "events", {"event": "alarm", "occurred_at": now().isoformat()})
    assert again.json()["outcome"] == "opened"
    assert track(again.json()["case_id"]) != case_id
    late = await post(
        api, sensor, "events", {"event": "recovery", "occurred_at": now().isoformat()}
    )
    assert late.json()["case_id"] == again.json()["case_id"]


# (what is wrong, the body (made when the test runs: timestamps are relative), status, field)
