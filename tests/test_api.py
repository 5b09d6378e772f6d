"""The HTTP API against the real app, the real Temporal test server and the real database."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.security import issue_token
from schemas.platform.common import Actor, Role
from services.cases.filing import new_case_id
from services.cases.operations import is_running
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import grid_point, place_stewards, track

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


def bearer(settings: Settings, role: Role, subject: str) -> dict[str, str]:
    secret = settings.api_token_secret.get_secret_value()
    return {"Authorization": f"Bearer {issue_token(secret, Actor(role=role, id=subject))}"}


async def wait_status(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    case_id: str,
    status: str,
    live: bool | None = None,
) -> dict[str, Any]:
    for _ in range(400):
        body: dict[str, Any] = (await api.get(f"/cases/{case_id}", headers=headers)).json()
        if body.get("status") == status and live in (None, body.get("live")):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"case {case_id} never reached {status}: {body}")


async def test_create_get_and_idempotent_retry(
    api: httpx.AsyncClient, settings: Settings, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G040")
    await place_stewards(sessions, grids, at, 1)
    steward = bearer(settings, "steward", "S0001")
    body = {
        "case_type": "illegal_parking",
        "location": at.model_dump(),
        "description": "消防通道旁违停",
    }
    headers = {**steward, "Idempotency-Key": "report-0001-abcdef"}
    first = await api.post("/cases", json=body, headers=headers)
    assert first.status_code == 202, first.text
    created = first.json()
    track(created["case_id"])
    assert created["grid_id"] == "G040"
    assert created["created"] is True
    assert created["links"]["temporal_ui"].endswith(f"/workflows/case-{created['case_id']}")
    assert first.headers["location"] == f"/cases/{created['case_id']}"

    again = await api.post("/cases", json=body, headers=headers)
    assert again.status_code == 202
    assert again.json()["case_id"] == created["case_id"]
    assert again.json()["created"] is False

    live = await wait_status(api, steward, created["case_id"], "dispatched")
    assert live["live"] is True
    assert live["source"] == "steward"
    assert [e["kind"] for e in live["timeline"]][:2] == ["filed", "dispatched"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"case_type": "illegal_parking", "location": {"lat": 31.5, "lon": 121.4}},
            "body.location",
        ),
        (
            {"case_type": "ufo_sighting", "location": {"lat": 30.745, "lon": 120.487}},
            "body.case_type",
        ),
        (
            {"case_type": "illegal_parking", "location": {"lat": 200, "lon": 120.487}},
            "body.location.lat",
        ),
        ({"case_type": "illegal_parking"}, "body.location"),
        (
            {
                "case_type": "illegal_parking",
                "location": {"lat": 30.745, "lon": 120.487},
                "surprise": 1,
            },
            "body.surprise",
        ),
    ],
)
async def test_bad_reports_get_422_naming_the_field_and_start_nothing(
    api: httpx.AsyncClient,
    settings: Settings,
    env: WorkflowEnvironment,
    body: dict[str, object],
    field: str,
) -> None:
    headers = {**bearer(settings, "citizen", "c-42"), "Idempotency-Key": f"bad-{field}-x"}
    response = await api.post("/cases", json=body, headers=headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["error"] == "invalid"
    assert field in problem["fields"]

    case_id = new_case_id(Actor(role="citizen", id="c-42"), f"bad-{field}-x")
    assert await is_running(env.client, case_id) is None


async def test_auth_and_unknown_case(api: httpx.AsyncClient, settings: Settings) -> None:
    assert (await api.get("/cases")).status_code == 401
    forged = {"Authorization": "Bearer gp1.eyJyb2xlIjoic3VwZXJ2aXNvciJ9.forged"}
    assert (await api.get("/cases", headers=forged)).status_code == 401
    supervisor = bearer(settings, "supervisor", "wang")
    missing = await api.get("/cases/GP-NOPE", headers=supervisor)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    citizen = bearer(settings, "citizen", "c-1")
    response = await api.post(
        "/supervisors/cases/GP-NOPE/cancel", json={"reason": "x"}, headers=citizen
    )
    assert response.status_code == 403


async def test_department_round_trip_then_projection_after_close(
    api: httpx.AsyncClient, settings: Settings, grids: GridIndex
) -> None:
    at = grid_point(grids, "G012")
    camera = bearer(settings, "citizen", "c-017")
    created = (
        await api.post(
            "/cases",
            json={"case_type": "red_light_running", "location": at.model_dump()},
            headers=camera,
        )
    ).json()
    case_id = track(created["case_id"])
    police = bearer(settings, "department", "traffic_police")
    urban = bearer(settings, "department", "urban_management")
    supervisor = bearer(settings, "supervisor", "wang")
    await wait_status(api, police, case_id, "escalated")

    wrong = await api.post(
        f"/departments/traffic_police/cases/{case_id}/accept", json={}, headers=urban
    )
    assert wrong.status_code == 403
    not_theirs = await api.post(
        f"/departments/urban_management/cases/{case_id}/accept", json={}, headers=urban
    )
    assert not_theirs.status_code == 409
    assert not_theirs.json()["error"] == "not_assigned"

    accepted = await api.post(
        f"/departments/traffic_police/cases/{case_id}/accept",
        json={},
        headers={**police, "Idempotency-Key": "tp-accept-1"},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "department_handling"
    repeat = await api.post(
        f"/departments/traffic_police/cases/{case_id}/accept",
        json={},
        headers={**police, "Idempotency-Key": "tp-accept-1"},
    )
    assert repeat.json() == accepted.json()
    twice = await api.post(
        f"/departments/traffic_police/cases/{case_id}/accept",
        json={},
        headers={**police, "Idempotency-Key": "tp-accept-2"},
    )
    assert twice.status_code == 409

    extension = await api.post(
        f"/departments/traffic_police/cases/{case_id}/extension",
        json={"extra": "P1D", "reason": "等待车主到案"},
        headers=police,
    )
    assert extension.status_code == 200, extension.text
    too_much = await api.post(
        f"/departments/traffic_police/cases/{case_id}/extension",
        json={"extra": "P1D", "reason": "再延一天"},
        headers=police,
    )
    assert too_much.status_code == 409
    assert too_much.json()["error"] == "limit"

    reported = await api.post(
        f"/departments/traffic_police/cases/{case_id}/result",
        json={"note": "已处罚", "evidence": [{"kind": "photo", "url": "https://e.example/1.jpg"}]},
        headers=police,
    )
    assert reported.json()["status"] == "resolved"
    verified = await api.post(
        f"/supervisors/cases/{case_id}/verify", json={"passed": True}, headers=supervisor
    )
    assert verified.status_code == 200

    # once the workflow has ended, the case is read from the projection
    closed = await wait_status(api, supervisor, case_id, "closed", live=False)
    kinds = [e["kind"] for e in closed["timeline"]]
    assert kinds == [
        "filed",
        "escalated",
        "department_accepted",
        "extension_granted",
        "department_reported",
        "verified",
        "closed",
    ]
    timeline = (await api.get(f"/cases/{case_id}/timeline", headers=supervisor)).json()
    assert timeline["entries"][4]["evidence"][0]["url"] == "https://e.example/1.jpg"
    assert timeline["entries"][2]["actor"] == {"role": "department", "id": "traffic_police"}

    page = (
        await api.get(
            "/cases",
            params={"status": "closed", "case_type": "red_light_running", "limit": 1},
            headers=supervisor,
        )
    ).json()
    assert page["total"] >= 1 and len(page["items"]) == 1
    assert page["items"][0]["status"] == "closed"
    after_close = await api.post(
        f"/supervisors/cases/{case_id}/cancel", json={"reason": "x"}, headers=supervisor
    )
    assert after_close.status_code == 409


async def test_health(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json()["status"] == "ok"
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"temporal": "ok", "database": "ok"}
