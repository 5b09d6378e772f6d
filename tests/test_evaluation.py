"""The evaluation (综合评价) on a hand-made projection with known answers, on the real DB.

The rows are written in March 2001, a period no other test reports in, so the numbers are
exact whatever else the session's database holds. The same SQL then runs on PostgreSQL in
CI (``GRIDPLUS_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import delete
from sqlmodel import col

from api.routers.pages import duration
from schemas.cases.tables import CaseEvent, CaseRecord
from services.platform.db import SessionFactory
from services.supervision.evaluation import evaluate, p90
from settings import Settings
from tests.queue_support import evaluated, timeline
from tests.test_api import bearer

T0 = datetime(2001, 3, 1, 8, 0, tzinfo=UTC)
FROM, TO = "2001-03-01T00:00:00Z", "2001-03-02T00:00:00Z"
M = timedelta(minutes=1)


@pytest.fixture(scope="module")
async def march_2001(sessions: SessionFactory) -> AsyncIterator[dict[str, str]]:
    """Five cases: on time, reworked and late, overdue at the department, cancelled, outside."""
    tag = uuid.uuid4().hex[:6].upper()
    ids = {name: f"EV-{tag}-{name}" for name in "ABCDE"}
    a, b, c, d, e = (ids[n] for n in "ABCDE")
    rows: list[CaseRecord | CaseEvent] = [
        evaluated(a, "G001", "traffic_police", "illegal_parking", "closed", T0, steward="S-A"),
        *timeline(
            a,
            ("filed", "filed", T0 + 0 * M, None),
            ("dispatched", "dispatched", T0 + 1 * M, None),
            ("accepted", "accepted", T0 + 3 * M, "S-A"),
            ("resolved", "resolved", T0 + 33 * M, "S-A"),
            ("verified", "verified", T0 + 63 * M, None),
            ("closed", "closed", T0 + 63 * M, None),
        ),
        evaluated(b, "G001", "traffic_police", "illegal_parking", "closed", T0, steward="S-A"),
        *timeline(
            b,
            ("filed", "filed", T0 + 0 * M, None),
            ("dispatched", "dispatched", T0 + 1 * M, None),
            ("accept_timeout", "dispatched", T0 + 11 * M, None),
            ("dispatched", "dispatched", T0 + 11 * M, None),
            ("accepted", "accepted", T0 + 12 * M, "S-B"),
            ("resolved", "resolved", T0 + 20 * M, "S-B"),
            ("verification_failed", "resolved", T0 + 30 * M, None),
            ("rework_dispatch", "filed", T0 + 30 * M, None),
            ("dispatched", "dispatched", T0 + 31 * M, None),
            ("accepted", "accepted", T0 + 32 * M, "S-A"),
            ("resolved", "resolved", T0 + 40 * M, "S-A"),
            ("verified", "verified", T0 + 50 * M, None),
            ("closed", "closed", T0 + 50 * M, None),
        ),
        evaluated(c, "G002", "traffic_police", "red_light_running", "resolved", T0, overdue=True),
        *timeline(
            c,
            ("filed", "filed", T0 + 0 * M, None),
            ("escalated", "escalated", T0 + 0 * M, None),
            ("department_accepted", "department_handling", T0 + 60 * M, None),
            ("supervisor_urge", "department_handling", T0 + 200 * M, None),
            ("department_reported", "resolved", T0 + 240 * M, None),
        ),
        evaluated(d, "G002", "urban_management", "garbage", "cancelled", T0),
        *timeline(
            d, ("filed", "filed", T0 + 0 * M, None), ("cancelled", "cancelled", T0 + 5 * M, None)
        ),
        evaluated(e, "G001", "traffic_police", "illegal_parking", "closed", T0 + timedelta(days=4)),
    ]
    async with sessions() as session, session.begin():
        session.add_all(rows)
    yield ids
    # leave no open, overdue, 25-year-old case behind for the supervisor board's tests
    async with sessions() as session, session.begin():
        for table in (CaseEvent, CaseRecord):
            await session.execute(delete(table).where(col(table.case_id).in_(ids.values())))


async def test_evaluation_by_grid_has_the_rates_and_stage_times(
    sessions: SessionFactory, march_2001: dict[str, str]
) -> None:
    async with sessions() as session:
        report = await evaluate(session, "grid", T0 - timedelta(hours=8), T0 + timedelta(hours=16))
    rows = {row.key: row for row in report.rows}
    assert set(rows) == {"G001", "G002"}
    g1, g2, total = rows["G001"], rows["G002"], report.total
    assert (g1.cases, g1.closed, g1.on_time, g1.reworked, g1.checked) == (2, 2, 1, 1, 2)
    assert (g1.closure_rate, g1.on_time_rate, g1.rework_rate) == (1.0, 0.5, 0.5)
    assert (g2.cases, g2.closed, g2.cancelled, g2.open, g2.overdue_open) == (2, 0, 1, 1, 1)
    assert (g2.closure_rate, g2.on_time_rate, g2.rework_rate) == (0.0, None, None)
    assert (total.cases, total.closed, total.closure_rate) == (4, 2, round(2 / 3, 4))

    stages = total.stages
    assert stages["dispatch_to_accept"].count == 2  # A: 2 min; B: 11 min (timeout counts)
    assert stages["dispatch_to_accept"].mean_seconds == 390.0
    assert stages["dispatch_to_accept"].p90_seconds == 660.0
    assert g1.stages["accept_to_resolve"].mean_seconds == (1800 + 480) / 2
    assert g1.stages["resolve_to_verify"].mean_seconds == (1800 + 600) / 2  # last result of B
    assert g1.stages["file_to_close"].mean_seconds == (3780 + 3000) / 2
    assert g2.stages["escalate_to_report"].mean_seconds == 4 * 3600
    assert g2.stages["file_to_close"].count == 0


async def test_evaluation_by_steward_department_and_type(
    sessions: SessionFactory, march_2001: dict[str, str]
) -> None:
    period = (T0 - timedelta(hours=8), T0 + timedelta(hours=16))
    async with sessions() as session:
        stewards = await evaluate(session, "steward", *period)
        departments = await evaluate(session, "department", *period)
        types = await evaluate(session, "case_type", *period)
    # B's last acceptance was by S-A (rework), C and D never had a steward
    assert [(r.key, r.cases) for r in stewards.rows] == [("S-A", 2)]
    assert [(r.key, r.cases) for r in departments.rows] == [
        ("traffic_police", 3),
        ("urban_management", 1),
    ]
    assert {r.key: r.cases for r in types.rows} == {
        "illegal_parking": 2,
        "red_light_running": 1,
        "garbage": 1,
    }


async def test_evaluation_endpoint_is_for_supervisors(
    api: httpx.AsyncClient, settings: Settings, march_2001: dict[str, str]
) -> None:
    supervisor = bearer(settings, "supervisor", "center-li")
    params = {"group_by": "department", "from": FROM, "to": TO}
    response = await api.get("/stats/evaluation", params=params, headers=supervisor)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["key"] for r in body["rows"]] == ["traffic_police", "urban_management"]
    assert body["rows"][0]["label"] == "交警 / Traffic police"
    assert body["total"]["rework_rate"] == 0.5
    assert "on_time_rate" in body["definitions"]

    steward = bearer(settings, "steward", "S-A")
    assert (await api.get("/stats/evaluation", headers=steward)).status_code == 403
    assert (await api.get("/stats/evaluation")).status_code == 401
    backwards = {"from": TO, "to": FROM}
    assert (
        await api.get("/stats/evaluation", params=backwards, headers=supervisor)
    ).status_code == 422
    naive = {"from": "2001-03-01T00:00:00", "to": TO}
    assert (await api.get("/stats/evaluation", params=naive, headers=supervisor)).status_code == 422
    bad = {"group_by": "weather"}
    assert (await api.get("/stats/evaluation", params=bad, headers=supervisor)).status_code == 422


def test_p90_and_durations() -> None:
    assert p90([]) is None
    assert p90([5.0]) == 5.0
    assert p90([float(n) for n in range(1, 11)]) == 9.0
    assert p90([float(n) for n in range(1, 12)]) == 10.0
    assert [duration(s) for s in (None, 40, 720, 3900, 2 * 86400 + 3 * 3600)] == [
        "–",
        "40s",
        "12m",
        "1h 05m",
        "2d 3h",
    ]
