"""One Idempotency-Key names one request, through the real API.

The same caller repeating the same action with the same body gets the stored answer; the
same key with another caller, action or body is a 409 ``idempotency_key_reused`` that
changes nothing. Creates follow the same rule, and concurrent repeats of one create
answer ``created: true`` exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from services.platform.geo import GridIndex
from tests.case_api_support import Api, api
from tests.support import grid_point, track

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
__all__ = ["api"]  # a fixture, imported


def new_key(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}"


def red_light(grids: GridIndex, grid_id: str = "G015", **extra: Any) -> dict[str, Any]:
    """A report that goes straight to traffic_police (no steward needed)."""
    at = grid_point(grids, grid_id).model_dump()
    return {"case_type": "red_light_running", "location": at, **extra}


async def escalated_case(api: Api, grids: GridIndex) -> str:
    response = await api.post("/cases", red_light(grids), "citizen", "c-11")
    assert response.status_code == 202, response.text
    case_id = track(response.json()["case_id"])
    await api.until(case_id, "escalated")
    return case_id


async def test_another_supervisors_action_under_a_used_key_is_refused_not_lost(
    api: Api, grids: GridIndex
) -> None:
    case_id = await escalated_case(api, grids)
    key = new_key("urge")
    urge = f"/supervisors/cases/{case_id}/urge"
    urged = await api.post(urge, {"note": "请尽快"}, "supervisor", "center-li", key)
    assert urged.status_code == 200, urged.text

    cancel = f"/supervisors/cases/{case_id}/cancel"
    reused = await api.post(cancel, {"reason": "重复"}, "supervisor", "center-zhao", key)
    assert reused.status_code == 409, reused.text
    assert reused.json()["error"] == "idempotency_key_reused"
    same_caller = await api.post(cancel, {"reason": "重复"}, "supervisor", "center-li", key)
    assert same_caller.status_code == 409
    assert same_caller.json()["error"] == "idempotency_key_reused"
    other_body = await api.post(urge, {"note": "再催"}, "supervisor", "center-li", key)
    assert other_body.status_code == 409
    assert other_body.json()["error"] == "idempotency_key_reused"

    repeat = await api.post(urge, {"note": "请尽快"}, "supervisor", "center-li", key)
    assert repeat.status_code == 200
    assert repeat.json() == urged.json()
    case = await api.case(case_id)
    assert case["status"] == "escalated"
    kinds = [e["kind"] for e in case["timeline"]]
    assert kinds.count("supervisor_urge") == 1 and "cancelled" not in kinds

    fresh = await api.post(cancel, {"reason": "重复"}, "supervisor", "center-zhao")
    assert fresh.status_code == 200
    assert fresh.json()["status"] == "cancelled"


async def test_a_department_cannot_ride_another_departments_key(api: Api, grids: GridIndex) -> None:
    case_id = await escalated_case(api, grids)
    key = new_key("tp-accept")
    police = f"/departments/traffic_police/cases/{case_id}/accept"
    accepted = await api.post(police, {}, "department", "traffic_police", key)
    assert accepted.status_code == 200, accepted.text

    fire = f"/departments/fire/cases/{case_id}/accept"
    reused = await api.post(fire, {}, "department", "fire", key)
    assert reused.status_code == 409, reused.text
    assert reused.json()["error"] == "idempotency_key_reused"
    case = await api.case(case_id)
    assert [e["kind"] for e in case["timeline"]].count("department_accepted") == 1


async def test_create_under_a_used_key_with_another_body_is_refused(
    api: Api, grids: GridIndex
) -> None:
    key = new_key("report")
    body = red_light(grids, description="闯红灯")
    first = await api.post("/cases", body, "citizen", "c-12", key)
    assert first.status_code == 202, first.text
    track(first.json()["case_id"])
    assert first.json()["created"] is True

    repeat = await api.post("/cases", body, "citizen", "c-12", key)
    assert repeat.status_code == 202
    assert repeat.json()["case_id"] == first.json()["case_id"]
    assert repeat.json()["created"] is False

    other = red_light(grids, "G040", description="另一处")
    reused = await api.post("/cases", other, "citizen", "c-12", key)
    assert reused.status_code == 409, reused.text
    assert reused.json()["error"] == "idempotency_key_reused"


async def test_concurrent_repeats_of_one_create_answer_created_once(
    api: Api, grids: GridIndex
) -> None:
    key = new_key("burst")
    body = red_light(grids, "G033", description="同一请求")
    answers = await asyncio.gather(
        *(api.post("/cases", body, "citizen", "c-13", key) for _ in range(8))
    )
    assert [a.status_code for a in answers] == [202] * 8, [a.text for a in answers]
    track(answers[0].json()["case_id"])
    assert len({a.json()["case_id"] for a in answers}) == 1
    assert sorted(a.json()["created"] for a in answers) == [False] * 7 + [True]
