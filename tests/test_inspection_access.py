"""Inspectors have their own role; inspections and hazards are read and re-inspected only by
those they concern. Real app, Temporal test server and database."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from schemas.inspections.checklists import InspectorIn
from schemas.platform.common import Role
from services.inspections.registry import upsert_inspectors
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.inspection_support import add_enterprise, add_inspectors, poll, terminate_open
from tests.security_support import bearer

pytestmark = pytest.mark.usefixtures("worker")

FIRE_EXITS = "fire.exits"  # blocked: a critical hazard for the fire department


def concerned(booked: str, mate: str) -> list[tuple[Role, str]]:
    """The booked inspector, another inspector of the grid, the fire department."""
    return [("inspector", booked), ("inspector", mate), ("department", "fire")]


async def test_detail_reads_and_reinspection_only_by_those_concerned(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    company = await add_enterprise(sessions, grids, "G047")
    crew = await add_inspectors(sessions, "G047", 2)
    outsider = "IT-G048-OUT"  # registered, but in another grid (and off duty: never booked)
    away = InspectorIn(id=outsider, name="外网格检查员", grid_id="G048",
                       qualifications=["fire"], on_duty=False)  # fmt: skip
    await upsert_inspectors(sessions, [away])
    center = bearer(settings, "supervisor", "center-wang")
    started = await api.post(
        "/inspections", json={"enterprise_id": company, "reason": "专项"}, headers=center
    )
    assert started.status_code == 202, started.text
    url = f"/inspections/{started.json()['inspection_id']}"
    view = await poll(api, url, center, lambda b: b["status"] == "scheduled")
    booked = view["inspector_id"]
    (mate,) = [i for i in crew if i != booked]

    def get(path: str, role: Role, who: str) -> Any:
        return api.get(path, headers=bearer(settings, role, who))

    assert (await get(url, "steward", "S0001")).status_code == 403
    assert (await get(url, "steward", booked)).status_code == 403  # the role counts, not the id
    assert (await get(url, "inspector", outsider)).status_code == 403
    assert (await get(url, "department", "traffic_police")).status_code == 403
    for role, who in concerned(booked, mate):
        assert (await get(url, role, who)).status_code == 200, (role, who)

    me = bearer(settings, "inspector", booked)
    assert (await api.post(f"{url}/visit", json={}, headers=me)).status_code == 200
    items = [
        {"item_code": s["item"]["code"], "outcome": "pass"}
        if s["item"]["code"] != FIRE_EXITS
        else {"item_code": FIRE_EXITS, "outcome": "hazard", "answer": "blocked"}
        for s in view["items"]
        if not s["item"]["automatic"]
    ]
    answered = await api.post(f"{url}/results", json={"items": items}, headers=me)
    assert answered.status_code == 200, answered.text
    assert (await api.post(f"{url}/finish", json={}, headers=me)).status_code == 200
    view = await poll(api, url, center, lambda b: b["waiting_for"].startswith("rectification"))
    rid = next(s["rectification_id"] for s in view["items"] if s["item"]["code"] == FIRE_EXITS)
    hazard = f"/rectifications/{rid}"

    assert (await get(hazard, "steward", "S0001")).status_code == 403
    assert (await get(hazard, "inspector", outsider)).status_code == 403
    assert (await get(hazard, "department", "environment")).status_code == 403
    assert (await get(hazard, "enterprise", "ET-SOMEONE-ELSE")).status_code == 404
    for role, who in concerned(booked, mate):
        assert (await get(hazard, role, who)).status_code == 200, (role, who)
    assert (await get(hazard, "enterprise", company)).status_code == 200

    proof = {"note": "通道已清理", "evidence": [{"kind": "photo", "url": "https://x.org/1.jpg"}]}
    own = bearer(settings, "enterprise", company)
    sent = await api.post(f"/enterprises/{company}/rectifications/{rid}/proof", json=proof,
                          headers=own)  # fmt: skip
    assert sent.status_code == 200, sent.text
    verdict = {"passed": True}
    stranger = await api.post(f"{hazard}/reinspection", json=verdict,
                              headers=bearer(settings, "inspector", outsider))  # fmt: skip
    assert stranger.status_code == 409 and stranger.json()["error"] == "forbidden_role"
    steward = await api.post(f"{hazard}/reinspection", json=verdict,
                             headers=bearer(settings, "steward", mate))  # fmt: skip
    assert steward.status_code == 403
    by_mate = await api.post(f"{hazard}/reinspection", json=verdict,
                             headers=bearer(settings, "inspector", mate))  # fmt: skip
    assert by_mate.status_code == 200, by_mate.text
    await poll(api, hazard, center, lambda b: b["status"] == "closed")
    await terminate_open(env.client, [f"inspection-{view['inspection_id']}"])
