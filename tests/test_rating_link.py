"""A citizen who reported through Open311 rates the closed case (回访) through the signed
link of the ``citizen_closed`` notice: "not satisfied" reopens it as rework and the rating
counts in the evaluation; a forged, expired, stale or reused link is refused and stores
nothing. The real app, worker, Temporal and database (no gateway URL: the outbox table is
the department gateway's inbox, holding the exact body the gateway is sent)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from services.cases.operations import is_running
from services.cases.rating_links import sign_rating
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.citizen_support import open311_closed
from tests.security_support import bearer
from tests.support import wait_for

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
    case_id, handle, (resolved, closed) = await open311_closed(env, api, sessions, grids, settings)
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
