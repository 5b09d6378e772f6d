"""The reporter's satisfaction follow-up (回访): a citizen rates a closed case; "not
satisfied" reopens it as rework; ratings show in the evaluation; only the reporter rates,
once per closing, within the catalog's window. The real app, worker, Temporal and database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from constants import case_workflow_id
from schemas.cases.catalog import default_catalog
from schemas.cases.satisfaction import SatisfactionBody
from schemas.cases.tables import CaseRecord
from schemas.platform.common import Actor
from services.cases.operations import is_running
from services.cases.satisfaction import rate_case
from services.platform.db import SessionFactory, utc
from services.platform.geo import GridIndex
from services.temporal_gateway import ActionRefused
from settings import Settings
from tests.citizen_support import steward_closes
from tests.security_support import bearer
from tests.support import grid_point, place_stewards, track, wait_for

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


async def closed_case(
    env: WorkflowEnvironment,
    api: httpx.AsyncClient,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
    citizen: str,
    grid_id: str,
) -> tuple[str, WorkflowHandle[Any, Any]]:
    """A citizen's report, handled by a steward, verified by the center and projected."""
    at = grid_point(grids, grid_id)
    await place_stewards(sessions, grids, at, 1)
    created = await api.post(
        "/cases",
        json={"case_type": "garbage", "location": {"lat": at.lat, "lon": at.lon}},
        headers=bearer(settings, "citizen", citizen),
    )
    assert created.status_code == 202, created.text
    case_id = track(created.json()["case_id"])
    handle = env.client.get_workflow_handle(case_workflow_id(case_id))
    offered = await wait_for(handle, lambda v: v.steward_id is not None)
    early = await api.post(
        f"/cases/{case_id}/satisfaction",
        json={"rating": 5},
        headers=bearer(settings, "citizen", citizen),
    )
    assert (early.status_code, early.json()["error"]) == (409, "not_closed")
    assert offered.steward_id is not None
    await steward_closes(handle, offered.steward_id, "清理完毕")
    for _ in range(200):
        async with sessions() as session:
            status = (
                await session.execute(
                    text("SELECT status FROM case_record WHERE case_id = :c"), {"c": case_id}
                )
            ).scalar_one_or_none()
        if status == "closed":
            break
        await asyncio.sleep(0.05)
    assert status == "closed"
    return case_id, handle


async def test_not_satisfied_reopens_as_rework_and_ratings_feed_the_evaluation(
    env: WorkflowEnvironment,
    api: httpx.AsyncClient,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    citizen = f"c-{uuid.uuid4().hex[:8]}"
    unhappy, handle = await closed_case(env, api, sessions, grids, settings, citizen, "G061")
    mine = bearer(settings, "citizen", citizen)
    stranger = bearer(settings, "citizen", f"c-{uuid.uuid4().hex[:8]}")
    other = await api.post(f"/cases/{unhappy}/satisfaction", json={"rating": 1}, headers=stranger)
    assert other.status_code == 403
    rated = await api.post(
        f"/cases/{unhappy}/satisfaction",
        json={"rating": 1, "comment": "垃圾还在"},
        headers=mine,
    )
    assert rated.status_code == 200, rated.text
    assert rated.json() == {"case_id": unhappy, "rating": 1, "satisfied": False, "reopened": True}
    assert await is_running(env.client, unhappy)  # back to work, as rework
    reopened = await wait_for(handle, lambda v: v.rework_count >= 1 and v.status != "closed")
    assert "not satisfied" in str([e.note for e in reopened.timeline])

    happy, _ = await closed_case(env, api, sessions, grids, settings, citizen, "G062")
    good = await api.post(f"/cases/{happy}/satisfaction", json={"rating": 5}, headers=mine)
    assert good.json()["satisfied"] is True and good.json()["reopened"] is False
    twice = await api.post(f"/cases/{happy}/satisfaction", json={"rating": 4}, headers=mine)
    assert (twice.status_code, twice.json()["error"]) == (409, "already_rated")

    report = await api.get(
        "/stats/evaluation",
        params={"group_by": "grid"},
        headers=bearer(settings, "supervisor", "center-qian"),
    )
    rows = {row["key"]: row for row in report.json()["rows"]}
    assert (rows["G061"]["rated"], rows["G061"]["satisfaction_rate"]) == (1, 0.0)
    assert (rows["G062"]["rated"], rows["G062"]["mean_rating"]) == (1, 5.0)


async def test_a_rating_after_the_window_is_refused(
    env: WorkflowEnvironment,
    api: httpx.AsyncClient,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    citizen = f"c-{uuid.uuid4().hex[:8]}"
    case_id, _ = await closed_case(env, api, sessions, grids, settings, citizen, "G063")
    async with sessions() as session:
        record = await session.get(CaseRecord, case_id)
    assert record is not None
    catalog = default_catalog()
    late = utc(record.closed_at)
    assert late is not None
    with pytest.raises(ActionRefused) as refused:
        await rate_case(
            env.client,
            sessions,
            catalog,
            case_id,
            Actor(role="citizen", id=citizen),
            SatisfactionBody(rating=2),
            settings.task_queue,
            now=late + catalog.followup.window + timedelta(minutes=1),
        )
    assert refused.value.code == "window_closed"
