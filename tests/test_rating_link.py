"""A citizen who reported through Open311 rates the closed case (回访) through the signed
link of the ``citizen_closed`` notice: "not satisfied" reopens it as rework and the rating
counts in the evaluation; a forged, expired, stale or reused link is refused and stores
nothing. The real app, worker, Temporal and database (no gateway URL: the outbox table is
the department gateway's inbox, holding the exact body the gateway is sent)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from constants import case_workflow_id
from schemas.cases.workflow import AcceptTask, ReportResolved, VerifyResult
from schemas.platform.common import Actor
from services.cases.operations import is_running
from services.cases.rating_links import sign_rating
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.security_support import bearer
from tests.support import SUPERVISOR, grid_point, key, place_stewards, track, wait_for
from tests.test_citizen_notice import notices
from tests.test_open311 import FORM, V2, example

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


async def rated(sessions: SessionFactory, case_id: str) -> list[int]:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT rating FROM satisfaction WHERE case_id = :c"), {"c": case_id}
        )
        return [row[0] for row in rows]


async def evaluation(api: httpx.AsyncClient, settings: Settings) -> dict[str, Any]:
    report = await api.get(
        "/stats/evaluation",
        params={"group_by": "grid"},
        headers=bearer(settings, "supervisor", "center-qian"),
    )
    assert report.status_code == 200, report.text
    return {row["key"]: row for row in report.json()["rows"]}


async def test_an_open311_citizen_rates_through_the_notice_link(
    env: WorkflowEnvironment,
    api: httpx.AsyncClient,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    before = (await evaluation(api, settings)).get("G055", {}).get("rated", 0)
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
    resolved, closed = (
        n["body"] if isinstance(n["body"], dict) else json.loads(n["body"]) for n in found
    )
    assert "rating_url" not in resolved
    link = closed["rating_url"]
    assert link in closed["text"]
    base = settings.public_base_url.rstrip("/") + "/satisfaction/"
    assert link.startswith(base)
    token = link.removeprefix(base)
    path = f"/satisfaction/{token}"

    claims, _, signature = token.partition(".")
    forged = await api.post(f"/satisfaction/{claims}.{signature[::-1]}", json={"rating": 5})
    assert forged.status_code == 403, forged.text
    other_key = sign_rating(SecretStr("x" * 40), case_id, 1, int(time.time()) + 3600)
    assert (await api.post(f"/satisfaction/{other_key}", json={"rating": 5})).status_code == 403
    secret = settings.api_token_secret
    async with sessions() as session:
        last_seq = (
            await session.execute(
                text("SELECT last_seq FROM case_record WHERE case_id = :c"), {"c": case_id}
            )
        ).scalar_one()
    expired = sign_rating(secret, case_id, last_seq, int(time.time()) - 1)
    assert (await api.post(f"/satisfaction/{expired}", json={"rating": 5})).status_code == 410
    stale = sign_rating(secret, case_id, last_seq - 1, int(time.time()) + 3600)
    old = await api.post(f"/satisfaction/{stale}", json={"rating": 5})
    assert (old.status_code, old.json()["error"]) == (409, "link_stale")
    assert await rated(sessions, case_id) == []  # nothing stored by a refused link

    answer = await api.post(path, json={"rating": 2, "comment": "还有味道"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"case_id": case_id, "rating": 2, "satisfied": False, "reopened": True}
    assert await is_running(env.client, case_id)  # back to work, as rework
    reopened = await wait_for(handle, lambda v: v.rework_count >= 1 and v.status != "closed")
    assert "还有味道" in str([e.note for e in reopened.timeline])

    again = await api.post(path, json={"rating": 5})
    assert again.status_code == 409, again.text
    assert await rated(sessions, case_id) == [2]
    after = (await evaluation(api, settings))["G055"]["rated"]
    assert after == before + 1
