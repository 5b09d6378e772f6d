"""A case taken to its close the ordinary way (a steward accepts and resolves, the center
verifies), and an Open311 citizen's case closed so, with the notices its reporter was sent:
the set-up the citizen notice, rating link and satisfaction tests share (what each asserts
stays in the test)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import text
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from constants import case_workflow_id
from schemas.cases.workflow import AcceptTask, ReportResolved, VerifyResult
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import SUPERVISOR, grid_point, key, place_stewards, track, wait_for
from tests.test_open311 import FORM, V2, example

CITIZEN_NOTICES = ["citizen_resolved", "citizen_closed"]


async def notices(sessions: SessionFactory, case_id: str) -> list[dict[str, Any]]:
    """The messages sent to the case's citizen reporter, in outbox order."""
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT kind, channel, body FROM notification WHERE recipient = :r "
                "ORDER BY position"
            ),
            {"r": f"citizen:{case_id}"},
        )
        return [dict(row._mapping) for row in rows]


async def steward_closes(handle: WorkflowHandle[Any, Any], steward_id: str, note: str) -> None:
    """The offered steward accepts and resolves (``note``), the center verifies: the case
    closes and its workflow ends."""
    hand = Actor(role="steward", id=steward_id)
    await handle.execute_update("accept_task", AcceptTask(actor=hand, idempotency_key=key()))
    await handle.execute_update(
        "report_resolved", ReportResolved(actor=hand, idempotency_key=key(), note=note)
    )
    await wait_for(handle, lambda v: v.status == "resolved")
    await handle.execute_update(
        "verify", VerifyResult(actor=SUPERVISOR, idempotency_key=key(), passed=True)
    )
    await handle.result()


async def open311_closed(
    env: WorkflowEnvironment,
    api: httpx.AsyncClient,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> tuple[str, WorkflowHandle[Any, Any], list[dict[str, Any]]]:
    """The Open311 example request (with the citizen's e-mail) filed in G055 and closed: its
    case id, handle and the bodies of the two notices its reporter was sent (resolved,
    closed), after checking they are those two."""
    await place_stewards(sessions, grids, grid_point(grids, "G055"), 1)
    created = await api.post(f"{V2}/requests.json", content=example(settings, grids), headers=FORM)
    assert created.status_code == 200, created.text
    case_id = track(created.json()[0]["service_request_id"])
    handle = env.client.get_workflow_handle(case_workflow_id(case_id))
    offered = await wait_for(handle, lambda v: v.steward_id is not None)
    assert offered.steward_id is not None
    await steward_closes(handle, offered.steward_id, "已清运")
    for _ in range(200):
        found = await notices(sessions, case_id)
        if len(found) == len(CITIZEN_NOTICES):
            break
        await asyncio.sleep(0.05)
    assert [n["kind"] for n in found] == CITIZEN_NOTICES
    bodies = [n["body"] if isinstance(n["body"], dict) else json.loads(n["body"]) for n in found]
    return case_id, handle, bodies
