"""A citizen who left a contact with an Open311 report is told when it is resolved and when
it closes, through the department-message gateway's outbox; Open311's status says closed.
The real app, worker, Temporal and database (no gateway URL: the outbox table is the inbox)."""

from __future__ import annotations

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.citizen_support import open311_closed
from tests.test_open311 import V2

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


async def test_an_open311_reporter_with_a_contact_is_told_at_resolution_and_close(
    env: WorkflowEnvironment,
    api: httpx.AsyncClient,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    case_id, _, (_, closed) = await open311_closed(env, api, sessions, grids, settings)
    assert closed["contact"]["email"] == "smit333@sfgov.edu"
    assert case_id in closed["text"] and "办结" in closed["text"]
    status = await api.get(f"{V2}/requests/{case_id}.json")
    assert status.json()[0]["status"] == "closed"
