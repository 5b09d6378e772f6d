"""Evaluation in working time on a seeded demo month (December 2025), computed by hand.

Five cases around the New Year holiday of 2026 (1-3 January off, Sunday 4 January worked),
one of them suspended (缓办) for two days, in a month no other test reports in; urban
management keeps 08:30-12:00 and 13:30-17:30, the linkage center the same, stewards are on
duty 07:00-22:00 every day, traffic police 24/7 (schemas/data/working_hours.json).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from sqlalchemy import delete
from sqlmodel import col

from schemas.cases.tables import CaseEvent, CaseRecord
from services.platform.db import SessionFactory
from settings import Settings
from tests.queue_support import evaluated, timeline
from tests.security_support import bearer
from tests.worktime_support import town

H = 3600.0
Entry = tuple[str, str, datetime, str | None]


@pytest.fixture
async def december_2025(sessions: SessionFactory) -> AsyncIterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:6].upper()
    ids = {name: f"WT-{tag}-{name}" for name in "ABCDE"}
    a, b, c, d, e = (ids[n] for n in "ABCDE")
    rows: list[CaseRecord | CaseEvent] = [
        # A: filed the afternoon before the New Year holiday, reported on the make-up Sunday
        evaluated(a, "G001", "urban_management", "street_vendor", "closed", town(2025, 12, 31, 16)),
        *timeline(
            a,
            ("filed", "filed", town(2025, 12, 31, 16), None),
            ("escalated", "escalated", town(2025, 12, 31, 16), None),
            ("department_accepted", "department_handling", town(2025, 12, 31, 16, 30), None),
            ("department_reported", "resolved", town(2026, 1, 4, 10), None),
            ("verified", "verified", town(2026, 1, 5, 9), None),
            ("closed", "closed", town(2026, 1, 5, 9), None),
        ),
        # B: suspended from Monday 10:00 to Wednesday 10:00 (缓办), then done by noon
        evaluated(b, "G001", "urban_management", "garbage", "closed", town(2025, 12, 8, 9)),
        *timeline(
            b,
            ("filed", "filed", town(2025, 12, 8, 9), None),
            ("escalated", "escalated", town(2025, 12, 8, 9), None),
            ("suspension_requested", "escalated", town(2025, 12, 8, 9, 50), None),
            ("suspended", "suspended", town(2025, 12, 8, 10), None),
            ("resumed", "escalated", town(2025, 12, 10, 10), None),
            ("department_reported", "resolved", town(2025, 12, 10, 12), None),
            ("verified", "verified", town(2025, 12, 10, 15), None),
            ("closed", "closed", town(2025, 12, 10, 15), None),
        ),
        # C: still open, urged: due, not on time
        evaluated(
            c,
            "G002",
            "urban_management",
            "street_vendor",
            "department_handling",
            town(2025, 12, 15, 9),
            overdue=True,
        ),
        *timeline(
            c,
            ("filed", "filed", town(2025, 12, 15, 9), None),
            ("escalated", "escalated", town(2025, 12, 15, 9), None),
            ("department_accepted", "department_handling", town(2025, 12, 15, 10), None),
            ("supervisor_urge", "department_handling", town(2025, 12, 16, 9, 30), None),
        ),
        # D: cancelled, neither due nor closed
        evaluated(d, "G002", "urban_management", "garbage", "cancelled", town(2025, 12, 20, 10)),
        *timeline(
            d,
            ("filed", "filed", town(2025, 12, 20, 10), None),
            ("cancelled", "cancelled", town(2025, 12, 20, 11), None),
        ),
        # E: a Saturday-night parking case, handled across the stewards' night off duty
        evaluated(
            e,
            "G001",
            "traffic_police",
            "illegal_parking",
            "closed",
            town(2025, 12, 20, 21),
            steward="S-E",
        ),
        *timeline(
            e,
            ("filed", "filed", town(2025, 12, 20, 21), None),
            ("dispatched", "dispatched", town(2025, 12, 20, 21), None),
            ("accepted", "accepted", town(2025, 12, 20, 21, 10), "S-E"),
            ("resolved", "resolved", town(2025, 12, 21, 7, 30), "S-E"),
            ("verified", "verified", town(2025, 12, 21, 8), None),
            ("closed", "closed", town(2025, 12, 21, 8), None),
        ),
    ]
    async with sessions() as session, session.begin():
        session.add_all(rows)
    yield ids
    async with sessions() as session, session.begin():
        for table in (CaseEvent, CaseRecord):
            await session.execute(delete(table).where(col(table.case_id).in_(ids.values())))


async def report(api: httpx.AsyncClient, settings: Settings, group_by: str) -> dict[str, dict]:  # type: ignore[type-arg]
    params = {
        "group_by": group_by,
        "from": "2025-12-01T00:00:00+08:00",
        "to": "2026-01-01T00:00:00+08:00",
    }
    response = await api.get(
        "/stats/evaluation", params=params, headers=bearer(settings, "supervisor", "center-li")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return {row["key"]: row for row in [*body["rows"], body["total"]]}


def mean(row: dict, stage: str) -> float | None:  # type: ignore[type-arg]
    value: float | None = row["working_stages"][stage]["mean_seconds"]
    return value


async def test_the_demo_month_by_hand_equals_the_api(
    api: httpx.AsyncClient, settings: Settings, december_2025: dict[str, str]
) -> None:
    # --- by hand -------------------------------------------------------------------------
    # A, department stage: 16:00-17:30 on 31 Dec (1.5 h), 1-3 Jan off, 08:30-10:00 on the
    # make-up Sunday 4 Jan (1.5 h): 3 h. Filed to closed: 1.5 h + 7.5 h (4 Jan) + 0.5 h
    # (5 Jan to 09:00): 9.5 h. Result to verification (center): 2 h + 4 h on 4 Jan, 0.5 h.
    a_stage, a_close, a_verify = 3 * H, 9.5 * H, 6.5 * H
    # B, department stage: 8 Dec 09:00-17:30 (7 h), 9 Dec (7.5 h), 10 Dec to 12:00 (3.5 h) =
    # 18 h, less suspended 8 Dec 10:00 - 10 Dec 10:00 (6 h + 7.5 h + 1.5 h = 15 h): 3 h.
    # Filed to closed: 18 h + 13:30-15:00 (1.5 h) = 19.5 h - 15 h = 4.5 h; verify: 1.5 h.
    b_stage, b_close, b_verify = 3 * H, 4.5 * H, 1.5 * H
    # E, stewards 07:00-22:00: dispatch to accept 10 min; accept (21:10) to resolve (07:30):
    # 50 min + 30 min; verify on a Sunday (the center closed): 0; filed to closed at the
    # 24/7 traffic police: 21:00-08:00 = 11 h.
    e_accept, e_resolve, e_verify, e_close = 600.0, 80 * 60.0, 0.0, 11 * H
    # due: closed A, B, E and the urged, still open C; on time: A, B, E.
    urban = {"due": 3, "on_time": 2, "rate": round(2 / 3, 4)}

    # --- the API -------------------------------------------------------------------------
    departments = await report(api, settings, "department")
    um, tp, total = departments["urban_management"], departments["traffic_police"], departments["*"]
    assert (um["cases"], um["closed"], um["cancelled"], um["open"]) == (4, 2, 1, 1)
    assert (um["due"], um["on_time"], um["on_time_closure_rate"]) == (
        urban["due"],
        urban["on_time"],
        urban["rate"],
    )
    assert (um["suspended"], um["suspended_seconds"]) == (1, 48 * H)
    assert mean(um, "escalate_to_report") == (a_stage + b_stage) / 2
    assert mean(um, "file_to_close") == (a_close + b_close) / 2
    assert mean(um, "resolve_to_verify") == (a_verify + b_verify) / 2
    assert um["working_stages"]["escalate_to_report"]["count"] == 2
    # wall clock, for contrast: A's department stage took 90 h
    assert um["stages"]["escalate_to_report"]["mean_seconds"] == (90 * H + 51 * H) / 2
    assert (tp["due"], tp["on_time"], tp["on_time_closure_rate"]) == (1, 1, 1.0)
    assert mean(tp, "dispatch_to_accept") == e_accept
    assert mean(tp, "accept_to_resolve") == e_resolve
    assert mean(tp, "resolve_to_verify") == e_verify
    assert mean(tp, "file_to_close") == e_close
    assert (total["due"], total["on_time"], total["on_time_closure_rate"]) == (4, 3, 0.75)

    grids = await report(api, settings, "grid")
    assert (grids["G001"]["due"], grids["G001"]["on_time_closure_rate"]) == (3, 1.0)
    assert (grids["G002"]["due"], grids["G002"]["on_time_closure_rate"]) == (1, 0.0)
    types = await report(api, settings, "case_type")
    assert types["street_vendor"]["on_time_closure_rate"] == 0.5
    assert types["garbage"]["working_stages"]["escalate_to_report"]["mean_seconds"] == b_stage
    stewards = await report(api, settings, "steward")
    assert mean(stewards["S-E"], "accept_to_resolve") == e_resolve
