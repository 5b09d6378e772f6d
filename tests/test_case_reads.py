"""Who reads a case: by (role, id), and a department only what it has held.

Through the real app, Temporal test server and database: a citizen whose id happens to be
a steward's does not read the steward's case; a department does not read a case of its
type while a steward handles it, and does once the case has been sent to it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.security_support import bearer
from tests.support import grid_point, place_stewards, track

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


async def until(
    api: httpx.AsyncClient, headers: dict[str, str], case_id: str, status: str
) -> dict[str, Any]:
    for _ in range(400):
        body: dict[str, Any] = (await api.get(f"/cases/{case_id}", headers=headers)).json()
        if body.get("status") == status:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id} never reached {status}")


async def listed(
    api: httpx.AsyncClient, headers: dict[str, str], case_id: str | None, status: str | None
) -> dict[str, str]:
    """``{case_id: status}`` of the caller's list, once ``case_id`` shows with ``status``."""
    for _ in range(400):
        response = await api.get("/cases?limit=500", headers=headers)
        assert response.status_code == 200, response.text
        seen = {c["case_id"]: c["status"] for c in response.json()["items"]}
        if case_id is None or seen.get(case_id) == status:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id} never listed as {status}")


async def test_reads_compare_role_and_id_and_departments_read_what_they_held(
    api: httpx.AsyncClient, settings: Settings, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G061")
    (steward_id,) = await place_stewards(sessions, grids, at, 1)
    center = bearer(settings, "supervisor", "center-li")
    body = {"case_type": "illegal_parking", "location": at.model_dump()}
    created = await api.post("/cases", json=body, headers=bearer(settings, "citizen", "c-31"))
    assert created.status_code == 202, created.text
    case_id = track(created.json()["case_id"])
    dispatched = await until(api, center, case_id, "dispatched")
    assert dispatched["steward_id"] == steward_id

    url = f"/cases/{case_id}"
    assert (await api.get(url, headers=bearer(settings, "steward", steward_id))).status_code == 200
    namesake = bearer(settings, "citizen", steward_id)
    assert (await api.get(url, headers=namesake)).status_code == 403
    assert (await api.get(f"{url}/timeline", headers=namesake)).status_code in (403, 404)
    assert (await api.get(url, headers=bearer(settings, "citizen", "c-31"))).status_code == 200

    police = bearer(settings, "department", "traffic_police")
    assert (await api.get(url, headers=police)).status_code == 403  # still with the steward
    await listed(api, center, case_id, "dispatched")  # projected: the lists can see it
    assert case_id not in await listed(api, police, None, None)
    escalated = await api.post(
        f"/supervisors/cases/{case_id}/escalate", json={"reason": "steward busy"}, headers=center
    )
    assert escalated.status_code == 200, escalated.text
    await until(api, center, case_id, "escalated")
    assert (await api.get(url, headers=police)).status_code == 200
    await listed(api, police, case_id, "escalated")
    fire = bearer(settings, "department", "fire")
    assert (await api.get(url, headers=fire)).status_code == 403
