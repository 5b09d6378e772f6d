"""A citizen who left a contact with an Open311 report is told when it is resolved and when
it closes, through the department-message gateway's outbox; Open311's status says closed.
The real app, worker, Temporal and database (no gateway URL: the outbox table is the inbox)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from constants import case_workflow_id
from schemas.cases.workflow import AcceptTask, ReportResolved, VerifyResult
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import SUPERVISOR, grid_point, key, place_stewards, track, wait_for
from tests.test_open311 import FORM, V2, example

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


async def notices(sessions: SessionFactory, case_id: str) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT kind, channel, body FROM notification WHERE recipient = :r "
                "ORDER BY position"
            ),
            {"r": f"citizen:{case_id}"},
        )
        return [dict(row._mapping) for row in rows]


async def test_an_open311_reporter_with_a_contact_is_told_at_resolution_and_close(
    env: WorkflowEnvironment,
    api: httpx.AsyncClient,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    await place_stewards(sessions, grids, grid_point(grids, "G055"), 1)
    created = await api.post(f"{V2}/requests.json", content=example(settings, grids), headers=FORM)
    assert created.status_code == 200, created.text
    case_id = track(created.json()[0]["service_request_id"])
    handle = env.client.get_workflow_handle(case_workflow_id(case_id))
    offered = await wait_for(handle, lambda v: v.steward_id is not None)
    assert offered.steward_id is not None
    hand = Actor(role="steward", id=offered.steward_id)
    await handle.execute_update("accept_task", AcceptTask(actor=hand, idempotency_key=key()))
    await handle.execute_update(
        "report_resolved", ReportResolved(actor=hand, idempotency_key=key(), note="已清运")
    )
    await wait_for(handle, lambda v: v.status == "resolved")
    await handle.execute_update(
        "verify", VerifyResult(actor=SUPERVISOR, idempotency_key=key(), passed=True)
    )
    await handle.result()
    for _ in range(200):
        found = await notices(sessions, case_id)
        if len(found) == 2:
            break
        await asyncio.sleep(0.05)
    assert [n["kind"] for n in found] == ["citizen_resolved", "citizen_closed"]
    closed = found[1]["body"]
    closed = closed if isinstance(closed, dict) else json.loads(closed)
    assert closed["contact"]["email"] == "smit333@sfgov.edu"
    assert case_id in closed["text"] and "办结" in closed["text"]
    status = await api.get(f"{V2}/requests/{case_id}.json")
    assert status.json()[0]["status"] == "closed"
