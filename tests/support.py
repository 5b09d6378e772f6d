"""Helpers for tests: place stewards, open a case, wait for the workflow to reach a state."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from temporalio.client import Client, WorkflowHandle

from constants import case_workflow_id
from schemas.cases.api import CreateCase
from schemas.cases.catalog import default_catalog
from schemas.cases.views import CaseView
from schemas.cases.workflow import OpenCaseInput
from schemas.platform.common import Actor, GeoPoint
from schemas.stewards.tables import Steward
from services.cases.filing import build_case_input
from services.cases.operations import start_case
from services.platform.db import SessionFactory, upsert_insert
from services.platform.geo import GridIndex
from workflows.cases.workflow import CaseWorkflow

TASK_QUEUE = "gridplus-test"
SUPERVISOR = Actor(role="supervisor", id="center-wang")
REPORTER = Actor(role="citizen", id="citizen-1")


# Case ids started by the current test; ``conftest.off_duty`` terminates whatever is still
# running afterwards, so one test's open cases never take another test's stewards.
STARTED: list[str] = []


def track(case_id: str) -> str:
    STARTED.append(case_id)
    return case_id


def key() -> str:
    return f"k-{uuid.uuid4().hex}"


def grid_point(grids: GridIndex, grid_id: str) -> GeoPoint:
    grid = grids.grid(grid_id)
    assert grid is not None
    return GeoPoint(lat=grid.centroid_lat, lon=grid.centroid_lon)


async def place_stewards(
    sessions: SessionFactory,
    grids: GridIndex,
    near: GeoPoint,
    count: int,
    *,
    prefix: str | None = None,
    step_km: float = 0.1,
    capacity: int = 1,
    skills: list[str] | None = None,
) -> list[str]:
    """On-duty stewards due east of ``near``, 100 m apart (nearest first)."""
    prefix = prefix or f"T{uuid.uuid4().hex[:6]}"
    ids = []
    async with sessions() as session, session.begin():
        insert = upsert_insert(session.get_bind().dialect.name)
        for i in range(count):
            lon = near.lon + (i + 1) * step_km / 95.7  # ~95.7 km per degree of lon at 30.7 N
            hit = grids.locate(near.lat, lon)
            steward_id = f"{prefix}-{i + 1}"
            row = {
                "id": steward_id,
                "name": f"测试管家{i + 1}",
                "phone": "13800000000",
                "grid_id": hit.grid_id if hit else "G001",
                "industry": "resident",
                "skills": skills
                if skills is not None
                else ["traffic", "city_appearance", "mediation", "safety", "fire_safety"],
                "language": "zh",
                "duty_state": "on_duty",
                "capacity": capacity,
                "active_tasks": 0,
                "lat": near.lat,
                "lon": lon,
                "location_at": datetime.now(UTC),
                "updated_at": datetime.now(UTC),
                "synthetic": True,
            }
            await session.execute(insert(Steward).values(row))
            ids.append(steward_id)
    return ids


async def active_tasks(sessions: SessionFactory, steward_id: str) -> int:
    async with sessions() as session:
        steward = await session.get(Steward, steward_id)
        assert steward is not None
        return steward.active_tasks


def case_input(
    grids: GridIndex, case_type: str, at: GeoPoint, description: str = "test"
) -> OpenCaseInput:
    case_id = "GP-T" + uuid.uuid4().hex[:12].upper()
    return build_case_input(
        CreateCase(case_type=case_type, location=at, description=description),
        REPORTER,
        case_id,
        default_catalog(),
        grids,
    )


async def open_case(client: Client, inp: OpenCaseInput) -> WorkflowHandle[Any, Any]:
    await start_case(client, inp, TASK_QUEUE)
    track(inp.case_id)
    return client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(inp.case_id))


async def view(handle: WorkflowHandle[Any, Any]) -> CaseView:
    result: CaseView = await handle.query("view", result_type=CaseView)
    return result


async def wait_for(
    handle: WorkflowHandle[Any, Any], check: Callable[[CaseView], bool], within: float = 20
) -> CaseView:
    """Poll the workflow's query until ``check`` holds (activities run in real time)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        current = await view(handle)
        if check(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; case is {current.status}: {current.waiting_for}")
        await asyncio.sleep(0.05)


async def count_rows(sessions: SessionFactory, sql: str, **params: Any) -> int:
    async with sessions() as session:
        return int((await session.execute(text(sql), params)).scalar_one())


HISTORIES = Path(__file__).parent / "histories"


async def local_activities(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The local activities a run recorded so far, in the order their markers were written."""
    names = []
    async for event in handle.fetch_history_events():
        if not event.HasField("marker_recorded_event_attributes"):
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name != "core_local_activity":
            continue
        data = json.loads(marker.details["data"].payloads[0].data)
        names.append(str(data["activity_type"]))
    return names


async def save_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With ``GRIDPLUS_SAVE_HISTORIES=1``, keep this run's history for the replay tests.

    Histories are saved once per workflow version (``make histories``) and committed; every
    later test run replays them, so a change that breaks running cases fails CI.
    """
    if os.environ.get("GRIDPLUS_SAVE_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"case_{name}.json").write_text(history.to_json())
