"""Regression tests for defects the inspection and campaign walks found (issue 13), each
the walk's shrunk action sequence as a plain test. Fixed behind ``inspection-v3``.

I1 (shrunk: ``cancel(case=5)``): a supervisor cancels a scheduled inspection. The workflow
releases the inspector's slot after recording ``cancelled``, but nothing was projected
after the release: the projection (and ``GpSteward``) kept the inspector, the live view
said none, so the inspector's list showed a visit that no longer had them.

I2 (shrunk: ``open(v=4)``, the center opens an inspection and cancels it at once): the
cancel lands while the form is being built; the workflow went on to record
``form_built`` after ``cancelled``, an entry after the end of the inspection.

C1 (the campaign walk, seed 5, shrunk: ``results(case=0, v=13180)`` and the scripted
resolution): a round completes once every inspection is visited, and stops counting the
closings its inspections signal; a hazard closed after that was never counted, so
``GET /campaigns/{id}`` showed it open forever. Fixed on the read side first (a completed
round's closed hazards from the projection, ``services.inspections.queries``), then in the
workflow (patch ``campaign-v2``): the round stays ``rectifying`` until its hazards are
closed, and its query, Web UI details and search attributes agree with ``GET`` throughout
(docs/campaigns.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from constants import campaign_workflow_id
from schemas.inspections.campaign import CampaignProgress
from schemas.inspections.workflow import INSPECTOR_ROLE, InspectionResult, InspectionView
from schemas.platform.common import Actor
from services.inspections.queries import projected_inspection
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.inspection_support import (
    add_enterprise,
    add_inspectors,
    key,
    poll,
    terminate_open,
    wait_view,
)
from tests.model.case_checks import describe_workflow
from tests.model.doors import Doors
from tests.model.inspection_world import SUPERVISOR
from tests.support import save_history

pytestmark = pytest.mark.usefixtures("worker")
GRID = "G059"


def doors(api: httpx.AsyncClient, settings: Settings) -> Doors:
    return Doors.of(api, settings)


async def open_inspection(door: Doors, enterprise_id: str) -> Any:
    answer = await door.post(
        "/inspections", SUPERVISOR, {"enterprise_id": enterprise_id, "reason": "walk"}, key()
    )
    assert answer.ok, answer.body
    return answer.body["inspection_id"]


async def cancel(door: Doors, inspection_id: str) -> None:
    answer = await door.post(
        f"/inspections/{inspection_id}/cancel", SUPERVISOR, {"reason": "企业停产"}, key()
    )
    assert answer.ok, answer.body


async def test_i1_a_cancelled_visit_is_projected_without_its_released_inspector(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    await add_inspectors(sessions, GRID, 1)
    door = doors(api, settings)
    inspection_id = await open_inspection(door, await add_enterprise(sessions, grids, GRID))
    handle = env.client.get_workflow_handle(
        f"inspection-{inspection_id}", result_type=InspectionResult
    )
    booked = await wait_view(handle, lambda v: v.status == "scheduled")
    assert booked.inspector_id is not None
    await cancel(door, inspection_id)
    assert (await handle.result()).status == "cancelled"
    live: InspectionView = await handle.query("view", result_type=InspectionView)
    assert live.inspector_id is None  # the slot was released
    for _ in range(200):  # the projection is written by an activity, in real time
        async with sessions() as session:
            row = await projected_inspection(session, inspection_id)
        if row is not None and row.status == "cancelled" and row.inspector_id is None:
            break
        await asyncio.sleep(0.05)
    assert row is not None and (row.status, row.inspector_id) == ("cancelled", None)
    attributes = (await describe_workflow(env.client, handle.id))[2]
    assert "GpSteward" not in attributes
    await save_history(handle, "inspection_v3_cancelled_inspector_released")


async def test_i2_nothing_is_recorded_after_a_cancel_while_the_form_is_built(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    await add_inspectors(sessions, GRID, 1)
    door = doors(api, settings)
    inspection_id = await open_inspection(door, await add_enterprise(sessions, grids, GRID))
    await cancel(door, inspection_id)
    handle = env.client.get_workflow_handle(
        f"inspection-{inspection_id}", result_type=InspectionResult
    )
    assert (await handle.result()).status == "cancelled"
    view: InspectionView = await handle.query("view", result_type=InspectionView)
    kinds = [e.kind for e in view.timeline]
    assert kinds[-1] == "cancelled" and kinds.count("cancelled") == 1, kinds
    assert kinds == ["requested", "cancelled"], kinds  # the cancel came before the form
    await save_history(handle, "inspection_v3_cancelled_while_preparing")


async def mild_hazard(door: Doors, inspection_id: str) -> list[dict[str, Any]]:
    """Every on-site item passed but the first, a hazard with its mildest answer."""
    view = await door.api.get(f"/inspections/{inspection_id}", headers=door.headers(SUPERVISOR))
    on_site = [s["item"] for s in view.json()["items"] if not s["item"]["automatic"]]
    rank = ("minor", "major", "critical").index
    mild = min(on_site[0]["answers"], key=lambda a: rank(a["severity"]))["code"]
    items: list[dict[str, Any]] = [{"item_code": i["code"], "outcome": "pass"} for i in on_site]
    items[0] = {"item_code": on_site[0]["code"], "outcome": "hazard", "answer": mild}
    return items


async def round_agrees(api: httpx.AsyncClient, door: Doors, round_: Any, cid: str) -> Any:
    """The round's query, GET /campaigns/{id}, its search attributes and its Web UI
    details say the same; the query's answer."""
    progress: CampaignProgress = await round_.query("progress", result_type=CampaignProgress)
    got = await api.get(f"/campaigns/{cid}", headers=door.headers(SUPERVISOR))
    assert got.status_code == 200, got.text
    assert CampaignProgress.model_validate(got.json()) == progress
    _, _, attributes = await describe_workflow(round_._client, round_.id)
    assert attributes.get("GpStatus") == progress.status
    assert ("GpDeadline" in attributes) == (progress.status == "running")
    meta = await round_.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    details = meta.current_details
    assert details.startswith(f"**{progress.status}**"), details
    assert f"{progress.hazards_open} open, {progress.hazards_closed} closed" in details, details
    return progress


async def test_c1_the_round_counts_the_hazards_closed_after_its_visits(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    """Shrunk: one enterprise, one visit with one hazard, the hazard closed afterwards.

    Before ``campaign-v2`` the round completed with the visit (hazards_open 1) and its
    query said so forever; now it is ``rectifying`` until the hazard closes, then
    ``completed`` with it counted, and the query equals ``GET`` at every point."""
    (inspector_id,) = await add_inspectors(sessions, GRID, 1)
    enterprise_id = await add_enterprise(sessions, grids, GRID)
    door = doors(api, settings)
    cid = "C1-" + key()[2:10].upper()
    body = {"campaign_id": cid, "name": "C1 round", "filter": {"enterprise_ids": [enterprise_id]},
            "target_window": "P10D", "max_in_flight": 1}  # fmt: skip
    assert (await door.post("/campaigns", SUPERVISOR, body)).ok
    round_ = env.client.get_workflow_handle(campaign_workflow_id(cid), result_type=CampaignProgress)
    inspection_id = f"JI-{enterprise_id}-{cid}"
    handle = env.client.get_workflow_handle(
        f"inspection-{inspection_id}", result_type=InspectionResult
    )
    rid = ""
    try:  # the round starts its inspection by an activity
        await poll(api, f"/inspections/{inspection_id}", door.headers(SUPERVISOR),
                   lambda b: b["status"] == "scheduled")  # fmt: skip
        crew = Actor(role=INSPECTOR_ROLE, id=inspector_id)
        url = f"/inspections/{inspection_id}"
        assert (await door.post(f"{url}/visit", crew, {}, key())).ok
        items = await mild_hazard(door, inspection_id)
        assert (await door.post(f"{url}/results", crew, {"items": items}, key())).ok
        assert (await door.post(f"{url}/finish", crew, {}, key())).ok
        view = await wait_view(handle, lambda v: any(s.rectification_id for s in v.items))
        (rid,) = [s.rectification_id for s in view.items if s.rectification_id]
        for _ in range(200):  # the visit reaches the round by a signal
            progress = await round_agrees(api, door, round_, cid)
            if progress.visited == 1:
                break
            await asyncio.sleep(0.05)
        assert (progress.status, progress.hazards_found, progress.hazards_open) == (
            "rectifying", 1, 1,
        )  # fmt: skip
        assert progress.round_time is not None  # the visits' time, as before
        company = Actor(role="enterprise", id=enterprise_id)
        proof = {"note": "已整改", "evidence": [{"kind": "photo", "url": "https://x.org/1.jpg"}]}
        sent = await door.post(f"/enterprises/{enterprise_id}/rectifications/{rid}/proof",
                               company, proof, key())  # fmt: skip
        assert sent.ok, sent.body
        passed = await door.post(f"/rectifications/{rid}/reinspection", crew, {"passed": True})
        assert passed.ok, passed.body
        assert (await handle.result()).hazards_closed == 1  # the hazard is closed
        done = await round_.result()  # and only now the round completes, with it counted
        assert (done.status, done.hazards_found, done.hazards_closed, done.hazards_open) == (
            "completed", 1, 1, 0,
        )  # fmt: skip
        after = await round_agrees(api, door, round_, cid)
        assert after == done
        kinds = [e.event_type for e in (await round_.fetch_history()).events]
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in kinds
        await save_history(round_, "campaign_v2_rectifying_then_completed")
    finally:
        await terminate_open(env.client, [round_.id, handle.id, f"rectification-{rid}"])
