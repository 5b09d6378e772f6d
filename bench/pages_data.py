"""The rows ``bench.pages`` measures on: open cases in the projection as the projector writes
them (with their timeline entries), spread over the town's grids and the queue's buckets,
and the signed-in supervisors (half overseeing G001-G010, half the whole town).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, text
from sqlmodel import col

from api.web.accounts import NewAccount, create_account
from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.platform.accounts import WebAccount, WebSession
from services.platform.db import SessionFactory, make_engine

PREFIX = "BENCHPG-"
PASSWORD = "bench pages password"
# (status, handler, share): what an open case of the town is doing right now
MIX = (
    ("department_handling", "department", 0.35),
    ("escalated", "department", 0.2),
    ("accepted", "steward", 0.2),
    ("dispatched", "steward", 0.1),
    ("returned", "steward", 0.05),
    ("resolved", "steward", 0.1),
)


async def fill(sessions: SessionFactory, grid_ids: list[str], cases: int) -> list[str]:
    """``cases`` open cases and ~3 timeline entries each; earlier bench rows go first."""
    rng = random.Random(17)
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await session.execute(delete(CaseEvent).where(col(CaseEvent.case_id).like(PREFIX + "%")))
        await session.execute(delete(CaseRecord).where(col(CaseRecord.case_id).like(PREFIX + "%")))
    statuses = [m for m in MIX for _ in range(int(m[2] * 100))]
    ids: list[str] = []
    for start in range(0, cases, 2000):
        records, events = [], []
        for n in range(start, min(cases, start + 2000)):
            status, handler, _ = rng.choice(statuses)
            case_id = f"{PREFIX}{n:06d}"
            reported = now - timedelta(minutes=rng.randint(10, 60 * 24 * 20))
            overdue = rng.random() < 0.15
            records.append(
                {
                    "case_id": case_id,
                    "case_type": rng.choice(("illegal_parking", "red_light_running", "garbage")),
                    "status": status,
                    "source": rng.choice(("steward", "camera", "citizen", "sensor")),
                    "priority": 2,
                    "grid_id": rng.choice(grid_ids),
                    "department": rng.choice(("urban_management", "traffic_police", "fire")),
                    "handler": handler,
                    "lat": 30.7,
                    "lon": 111.3,
                    "description": "bench",
                    "reported_at": reported,
                    "deadline": now + timedelta(hours=rng.randint(-48, 72)),
                    "waiting_for": "someone",
                    "overdue": overdue,
                    "rework_count": 0,
                    "urge_count": 0,
                    "last_seq": 3,
                    "updated_at": now,
                }
            )
            kinds = ["filed", "dispatched"]
            roll = rng.random()
            if roll < 0.04:
                kinds.append("department_head_escalation")
            elif roll < 0.08:
                kinds.append("extension_granted")
            elif roll < 0.12:
                kinds.append("no_steward_available")
            else:
                kinds.append("accepted")
            for seq, kind in enumerate(kinds, 1):
                events.append(
                    {
                        "case_id": case_id,
                        "seq": seq,
                        "kind": kind,
                        "status": status,
                        "at": reported + timedelta(minutes=seq),
                        "evidence": [],
                        "data": {},
                    }
                )
            ids.append(case_id)
        async with sessions() as session, session.begin():
            await session.execute(insert(CaseRecord), records)
            await session.execute(insert(CaseEvent), events)
    return ids


async def settle(url: str) -> None:
    """VACUUM ANALYZE the projection, as autovacuum would have done in a running town
    (a bulk load leaves no statistics and, after an earlier run, dead rows)."""
    if not url.startswith("postgresql"):
        return
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        for table in ("case_record", "case_event"):
            await connection.execute(text(f"VACUUM ANALYZE {table}"))
    await engine.dispose()


async def accounts(sessions: SessionFactory, users: int) -> list[str]:
    names = []
    async with sessions() as session, session.begin():
        await session.execute(delete(WebSession).where(col(WebSession.username).like("bench-%")))
        await session.execute(delete(WebAccount).where(col(WebAccount.username).like("bench-%")))
    for n in range(users):
        name = f"bench-{n:02d}"
        scoped = n % 2 == 0
        grids = tuple(f"G{g:03d}" for g in range(1, 11)) if scoped else ()
        new = NewAccount(name, PASSWORD, "supervisor", name, None, grids, not scoped)
        await create_account(sessions, new)
        names.append(name)
    return names
