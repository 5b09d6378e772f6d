"""Regression tests for defects the inspection and campaign walks found (issue 13), each
the walk's shrunk action sequence as a plain test. Fixed behind ``inspection-v3``.

I1 (shrunk: ``cancel(case=5)``): a supervisor cancels a scheduled inspection. The workflow
releases the inspector's slot after recording ``cancelled``, but nothing was projected
after the release: the projection (and ``GpSteward``) kept the inspector, the live view
said none, so the inspector's list showed a visit that no longer had them.

I2 (shrunk: ``open(v=4)``, the center opens an inspection and cancels it at once): the
cancel lands while the form is being built; the workflow went on to record
``form_built`` after ``cancelled``, an entry after the end of the inspection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from schemas.inspection_flow import InspectionResult, InspectionView
from services.inspections.queries import projected_inspection
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.inspection_support import add_enterprise, add_inspectors, key, wait_view
from tests.model.case_checks import describe_workflow
from tests.model.doors import Doors
from tests.model.inspection_world import SUPERVISOR
from tests.support import save_history

pytestmark = pytest.mark.usefixtures("worker")
GRID = "G059"


def doors(api: httpx.AsyncClient, settings: Settings) -> Doors:
    return Doors(
        api, settings.api_token_secret.get_secret_value(), settings.bot_secret.get_secret_value()
    )


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
