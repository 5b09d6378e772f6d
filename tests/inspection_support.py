"""Helpers for the inspection tests: registry rows, starting, waiting, answering a form."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text
from temporalio.client import Client, WorkflowHandle

from constants import inspection_workflow_id, rectification_workflow_id
from schemas.inspections.checklists import EnterpriseIn, InspectorIn, default_checklists
from schemas.inspections.rectification import RectificationResult, RectificationView
from schemas.inspections.workflow import (
    INSPECTOR_ROLE,
    InspectionResult,
    InspectionView,
    ItemResult,
)
from schemas.platform.common import Actor
from services.inspections.operations import start_inspection
from services.inspections.registry import upsert_enterprises, upsert_inspectors
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.temporal_gateway import workflow_running as running

TASK_QUEUE = "gridplus-test"
SUPERVISOR = Actor(role="supervisor", id="center-wang")
ALL_DEPARTMENTS = list(default_checklists().departments)


def key() -> str:
    return f"k-{uuid.uuid4().hex}"


def inspector(inspector_id: str) -> Actor:
    return Actor(role=INSPECTOR_ROLE, id=inspector_id)


async def add_enterprise(
    sessions: SessionFactory,
    grids: GridIndex,
    grid_id: str,
    *,
    industry: str = "chemical",
    hazardous_chemicals: bool = True,
    risk_level: str = "high",
) -> str:
    enterprise_id = "ET-" + uuid.uuid4().hex[:8].upper()
    grid = grids.grid(grid_id)
    assert grid is not None
    row = EnterpriseIn.model_validate(
        {
            "id": enterprise_id,
            "name": f"测试{industry}有限公司",
            "grid_id": grid_id,
            "lat": grid.centroid_lat,
            "lon": grid.centroid_lon,
            "industry": industry,
            "risk_level": risk_level,
            "hazardous_chemicals": hazardous_chemicals,
        }
    )
    await upsert_enterprises(sessions, [row])
    return enterprise_id


async def add_inspectors(
    sessions: SessionFactory, grid_id: str, count: int, qualifications: list[str] | None = None
) -> list[str]:
    """Fresh inspectors in ``grid_id``; every other inspector goes off duty."""
    prefix = "IT" + uuid.uuid4().hex[:5].upper()
    rows = [
        InspectorIn(
            id=f"{prefix}-{n}",
            name=f"检查员{n}",
            grid_id=grid_id,
            qualifications=qualifications or ALL_DEPARTMENTS,
        )
        for n in range(1, count + 1)
    ]
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE inspector SET on_duty = false"))
    await upsert_inspectors(sessions, rows)
    return [r.id for r in rows]


async def open_inspection(
    client: Client, sessions: SessionFactory, enterprise_id: str
) -> WorkflowHandle[Any, Any]:
    inspection_id, created = await start_inspection(
        client, sessions, enterprise_id, SUPERVISOR, key(), "test", TASK_QUEUE
    )
    assert created
    return client.get_workflow_handle(
        inspection_workflow_id(inspection_id), result_type=InspectionResult
    )


def rectification(client: Client, rectification_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(
        rectification_workflow_id(rectification_id), result_type=RectificationResult
    )


async def wait_view(
    handle: WorkflowHandle[Any, Any],
    check: Callable[[InspectionView], bool],
    patience: float = 30,
) -> InspectionView:
    """Poll the inspection's query until ``check`` holds (activities run in real time)."""
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        current: InspectionView = await handle.query("view", result_type=InspectionView)
        if check(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"timed out; inspection is {current.status}: {current.waiting_for}"
            )
        await asyncio.sleep(0.05)


async def wait_hazard(
    handle: WorkflowHandle[Any, Any],
    check: Callable[[RectificationView], bool],
    patience: float = 30,
) -> RectificationView:
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        current: RectificationView = await handle.query("view", result_type=RectificationView)
        if check(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; hazard is {current.status}: {current.waiting_for}")
        await asyncio.sleep(0.05)


def results(view: InspectionView, hazards: dict[str, str]) -> list[ItemResult]:
    """Every on-site item: a hazard with the given answer, else a pass."""
    out = []
    for slot in view.items:
        if slot.item.automatic:
            continue
        answer = hazards.get(slot.item.code)
        if answer is None:
            out.append(ItemResult(item_code=slot.item.code, outcome="pass"))
        else:
            out.append(ItemResult(item_code=slot.item.code, outcome="hazard", answer=answer))
    return out


async def terminate_open(client: Client, workflow_ids: list[str]) -> None:
    """End what a test left running, so its timers cannot fire into later tests."""
    for workflow_id in workflow_ids:
        if await running(client, workflow_id):
            await client.get_workflow_handle(workflow_id).terminate("test over")


async def poll(api: httpx.AsyncClient, url: str, headers: dict[str, str], check: Any) -> Any:
    """GET ``url`` until it answers 200 with a body ``check`` accepts; that body."""
    for _ in range(400):
        response = await api.get(url, headers=headers)
        if response.status_code == 200 and check(response.json()):
            return response.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never matched: {response.status_code} {response.text[:300]}")
