"""The inspection API end to end: enterprise records (and who may touch them), findings from
records, an inspection driven over HTTP, proof by the enterprise, reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.security import issue_token
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import device
from tests.inspection_support import add_enterprise, add_inspectors, poll

pytestmark = pytest.mark.usefixtures("worker")


def bearer(settings: Settings, role: str, subject: str) -> dict[str, str]:
    actor = Actor(role=role, id=subject)
    return {
        "Authorization": "Bearer "
        + issue_token(settings.api_token_secret.get_secret_value(), actor)
    }


async def test_an_enterprise_reads_and_writes_only_its_own_records(
    api: httpx.AsyncClient, settings: Settings, sessions: SessionFactory, grids: GridIndex
) -> None:
    mine = await add_enterprise(sessions, grids, "G052", industry="furniture")
    theirs = await add_enterprise(sessions, grids, "G052", industry="textile")
    me, them = bearer(settings, "enterprise", mine), bearer(settings, "enterprise", theirs)
    start = datetime.now(UTC) + timedelta(hours=1)
    record = {"kind": "hot_work", "started_at": start.isoformat(), "permit_no": "DH-001"}

    created = await api.post(f"/enterprises/{mine}/records", json=record,
                             headers={**me, "Idempotency-Key": "hot-work-0001"})  # fmt: skip
    assert created.status_code == 201, created.text
    retry = await api.post(f"/enterprises/{mine}/records", json=record,
                           headers={**me, "Idempotency-Key": "hot-work-0001"})  # fmt: skip
    assert retry.status_code == 200 and retry.json()["id"] == created.json()["id"]
    other_permit = {**record, "permit_no": "DH-002"}
    reused = await api.post(f"/enterprises/{mine}/records", json=other_permit,
                            headers={**me, "Idempotency-Key": "hot-work-0001"})  # fmt: skip
    assert reused.status_code == 409 and reused.json()["error"] == "idempotency_key_reused"

    assert (
        await api.post(f"/enterprises/{theirs}/records", json=record, headers=me)
    ).status_code == 403
    assert (await api.get(f"/enterprises/{theirs}/records", headers=me)).status_code == 403
    assert (await api.get(f"/enterprises/{mine}/records", headers=them)).status_code == 403
    assert (await api.get(f"/enterprises/{mine}/rectifications", headers=them)).status_code == 403
    steward = bearer(settings, "steward", "S0001")
    assert (
        await api.post(f"/enterprises/{mine}/records", json=record, headers=steward)
    ).status_code == 403
    assert (await api.post(f"/enterprises/{mine}/records", json=record)).status_code == 401
    naive = {**record, "started_at": "2026-11-25T10:00:00"}
    invalid = await api.post(f"/enterprises/{mine}/records", json=naive, headers=me)
    assert invalid.status_code == 422 and "body.started_at" in invalid.json()["fields"]

    own = await api.get(f"/enterprises/{mine}/records", headers=me)
    assert own.status_code == 200 and own.json()["total"] == 1
    supervisor = bearer(settings, "supervisor", "wang")
    assert (await api.get(f"/enterprises/{mine}/records", headers=supervisor)).json()["total"] == 1
    assert (await api.get(f"/enterprises/{theirs}/records", headers=them)).json()["total"] == 0
    ghost = bearer(settings, "enterprise", "E-GHOST")
    missing = await api.post("/enterprises/E-GHOST/records", json=record, headers=ghost)
    assert missing.status_code == 404


async def test_records_become_findings_and_the_loop_runs_over_http(
    api: httpx.AsyncClient, settings: Settings, sessions: SessionFactory, grids: GridIndex,
    env: WorkflowEnvironment,
) -> None:  # fmt: skip
    company = await add_enterprise(sessions, grids, "G066", industry="printing_dyeing")
    other = await add_enterprise(sessions, grids, "G066", industry="textile")
    (inspector_id,) = await add_inspectors(sessions, "G066", 1)
    me, them = bearer(settings, "enterprise", company), bearer(settings, "enterprise", other)
    now = await env.get_current_time()
    late = {"kind": "hot_work", "started_at": (now - timedelta(hours=3)).isoformat()}
    assert (
        await api.post(f"/enterprises/{company}/records", json=late, headers=me)
    ).status_code == 201
    warehouse = await device(sessions, grids, "G066", enterprise_id=company)
    camera = bearer(settings, "device", warehouse.id)
    seen = {"kind": "confined_space", "started_at": (now - timedelta(hours=5)).isoformat(),
            "note": "有限空间入口有人员进出"}  # fmt: skip
    observed = await api.post(f"/enterprises/{company}/observations", json=seen, headers=camera)
    assert observed.status_code == 201, observed.text

    supervisor = bearer(settings, "supervisor", "wang")
    once = {**supervisor, "Idempotency-Key": "inspect-company-1"}
    request = {"enterprise_id": company, "reason": "专项检查"}
    started = await api.post("/inspections", json=request, headers=once)
    assert started.status_code == 202, started.text
    inspection_id = started.json()["inspection_id"]
    assert (await api.post("/inspections", json=request, headers=once)).json()["created"] is False
    nowhere = await api.post("/inspections", json={"enterprise_id": "E-NOPE"}, headers=supervisor)
    assert nowhere.status_code == 422

    url = f"/inspections/{inspection_id}"
    view = await poll(api, url, supervisor, lambda b: b["status"] == "scheduled")
    automatic = {s["item"]["code"]: s for s in view["items"] if s["item"]["automatic"]}
    assert automatic["emergency_management.hot_work_records"]["answer"] == "late_record"
    assert automatic["emergency_management.confined_space_records"]["answer"] == "missing_record"
    assert {s["severity"] for s in automatic.values()} == {"minor", "major"}

    crew = bearer(settings, "inspector", inspector_id)
    not_inspector = bearer(settings, "steward", "S0001")
    assert (await api.post(f"{url}/visit", json={}, headers=not_inspector)).status_code == 403
    assert (await api.post(f"{url}/visit", json={}, headers=crew)).status_code == 200
    items = [{"item_code": s["item"]["code"], "outcome": "pass"}
             for s in view["items"] if not s["item"]["automatic"]]  # fmt: skip
    answered = await api.post(f"{url}/results", json={"items": items}, headers=crew)
    assert answered.status_code == 200, answered.text
    automatic_answer = [{"item_code": "emergency_management.hot_work_records", "outcome": "pass"}]
    refused = await api.post(f"{url}/results", json={"items": automatic_answer}, headers=crew)
    assert refused.status_code == 409 and refused.json()["error"] == "automatic_item"
    assert (await api.post(f"{url}/finish", json={}, headers=crew)).status_code == 200
    view = await poll(api, url, supervisor, lambda b: b["waiting_for"].startswith("rectification"))
    rids = [s["rectification_id"] for s in view["items"] if s["rectification_id"]]
    assert len(rids) == 2

    body = {
        "note": "已补办作业票并培训",
        "evidence": [{"kind": "document", "url": "https://x.org/p.pdf"}],
    }
    path = f"/enterprises/{company}/rectifications/{rids[0]}/proof"
    assert (await api.post(path, json=body, headers=them)).status_code == 403
    sneaky = await api.post(f"/enterprises/{other}/rectifications/{rids[0]}/proof", json=body,
                            headers=them)  # fmt: skip
    assert sneaky.status_code == 409 and sneaky.json()["error"] == "forbidden_role"
    assert (await api.post(path, json=body, headers=me)).status_code == 200
    hazards = await poll(
        api,
        f"/enterprises/{company}/rectifications",
        me,
        lambda b: any(h["status"] == "proof_submitted" for h in b["items"]),
    )
    assert hazards["total"] == 2
    passed = await api.post(f"/rectifications/{rids[0]}/reinspection", json={"passed": True},
                            headers=crew)  # fmt: skip
    assert passed.status_code == 200, passed.text
    await poll(api, f"/rectifications/{rids[0]}", supervisor, lambda b: b["status"] == "closed")

    by_enterprise = await poll(
        api,
        "/reports/inspections/enterprises?grid_id=G066",
        supervisor,
        lambda b: any(r["enterprise_id"] == company and r["closed"] == 1 for r in b),
    )
    row = next(r for r in by_enterprise if r["enterprise_id"] == company)
    assert (row["inspections"], row["hazards"], row["closed"], row["open"]) == (1, 2, 1, 1)
    departments = (await api.get("/reports/inspections/departments", headers=supervisor)).json()
    assert {d["department"] for d in departments} >= {"emergency_management", "fire"}
    grids_report = (await api.get("/reports/inspections/grids", headers=supervisor)).json()
    assert any(g["grid_id"] == "G066" and g["inspected"] >= 1 for g in grids_report)
    assert (await api.get("/reports/inspections/grids", headers=me)).status_code == 403
    await env.client.get_workflow_handle(f"rectification-{rids[1]}").terminate("test over")


async def test_a_round_started_and_followed_over_http(
    api: httpx.AsyncClient, settings: Settings, sessions: SessionFactory, grids: GridIndex
) -> None:
    company = await add_enterprise(sessions, grids, "G088", industry="paper")
    await add_inspectors(sessions, "G088", 1)
    supervisor = bearer(settings, "supervisor", "wang")
    body = {"campaign_id": f"CA-{company}", "filter": {"enterprise_ids": [company]}}
    department = bearer(settings, "department", "fire")
    assert (await api.post("/campaigns", json=body, headers=department)).status_code == 403
    started = await api.post("/campaigns", json=body, headers=supervisor)
    assert started.status_code == 202 and started.json()["created"] is True
    url = f"/campaigns/CA-{company}"
    running = await poll(api, url, department, lambda b: b["started"] == 1)
    assert (running["planned"], running["status"]) == (1, "running")
    page = await poll(api, f"/inspections?campaign_id=CA-{company}", supervisor,
                      lambda b: b["total"] == 1)  # fmt: skip
    inspection_id = page["items"][0]["inspection_id"]
    cancel = await api.post(f"/inspections/{inspection_id}/cancel", json={"reason": "停产"},
                            headers=supervisor)  # fmt: skip
    assert cancel.status_code == 200, cancel.text
    done = await poll(api, url, supervisor, lambda b: b["status"] == "completed")
    assert (done["cancelled"], done["visited"], done["in_flight"]) == (1, 0, 0)
    report = await api.get(f"/reports/inspections/rounds/CA-{company}", headers=supervisor)
    assert report.status_code == 200 and report.json()["enterprises_visited"] == 0
    missing = await api.get("/reports/inspections/rounds/NOPE", headers=supervisor)
    assert missing.status_code == 404


async def test_a_device_reports_only_on_the_enterprise_it_is_bound_to(
    api: httpx.AsyncClient, settings: Settings, sessions: SessionFactory, grids: GridIndex
) -> None:
    watched = await add_enterprise(sessions, grids, "G067", industry="textile")
    elsewhere = await add_enterprise(sessions, grids, "G067", industry="paper")
    camera = await device(sessions, grids, "G067", enterprise_id=watched)
    town_camera = await device(sessions, grids, "G067")
    seen = {"kind": "hot_work", "started_at": datetime.now(UTC).isoformat()}

    def post(enterprise_id: str, device_id: str) -> Any:
        url = f"/enterprises/{enterprise_id}/observations"
        return api.post(url, json=seen, headers=bearer(settings, "device", device_id))

    assert (await post(watched, camera.id)).status_code == 201
    foreign = await post(elsewhere, camera.id)
    assert foreign.status_code == 403
    assert f"bound to enterprise {watched}" in foreign.json()["message"]
    unbound = await post(elsewhere, town_camera.id)
    assert unbound.status_code == 403 and "bound to grid G067" in unbound.json()["message"]
    ghost = await post(watched, "CAM-NOT-REGISTERED")
    assert ghost.status_code == 403 and "not a registered" in ghost.json()["message"]
    supervisor = bearer(settings, "supervisor", "wang")
    records = await api.get(f"/enterprises/{elsewhere}/records", headers=supervisor)
    assert records.json()["total"] == 0  # nothing was stored for the refused posts
