"""The database unavailable for a while as cases progress; the projection must catch up.

What "down" means is in ``tests/faults/scratch.py``: on PostgreSQL the scratch database
refuses connections and its open ones are killed; on SQLite another connection holds an
``EXCLUSIVE`` lock, so every write waits its 30 s busy timeout and fails (reads still
work), and the outage lasts longer than that timeout so the worker's writes really fail
and are retried rather than merely delayed. The test checks from outside that a fresh
writer is refused at the start and at the end of the outage.

Cases are dispatched and accepted first (reserving a steward needs the database). During
the outage stewards report them resolved and supervisors verify them: those steps need
only Temporal, so the workflows' timelines grow while nothing can be projected. The outage
lasts ``OUTAGE`` seconds and at least until every case is verified. After the database
returns, every case must close and the projection must hold every timeline entry, seq
1..n, written in timeline order, with nothing lost or duplicated anywhere.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlmodel import col

from schemas.cases.tables import CaseEvent
from tests.faults.checks import closure_problems, report
from tests.faults.driver import ACCEPT, Driver, until
from tests.faults.stack import FaultStack, short_sla

CASES = 10
SLA = short_sla(accept=20, resolve=120, department=120, verify=120)
OUTAGE = {"sqlite": 33.0, "postgresql": 20.0}  # at least; SQLite's must exceed busy_timeout


async def test_database_down_projection_catches_up(stack: FaultStack) -> None:
    began = time.monotonic()
    database = stack.database
    await stack.add_stewards(CASES, capacity=1)
    await stack.start_worker()
    cases = await stack.open_cases(CASES, SLA)
    driver = Driver(stack.client, stack.gateway, limit=ACCEPT)
    driving = asyncio.create_task(driver.drive_all(cases, within=180))

    async def all_accepted() -> bool:
        return (await driver.statuses(cases))["accepted"] == CASES

    await until(all_accepted, 60, "every case to be accepted")
    projected_before = await _projected(stack, cases)

    await database.take_down()
    down_at, down_wall = time.monotonic(), datetime.now(UTC)
    refused_at_start = await database.probe_write()
    driver.release_all()  # resolve and verify while the database is away

    async def all_verified() -> bool:
        return (await driver.statuses(cases))["verified"] == CASES

    # Each action waits for the case's next workflow task, which a local activity retrying
    # against the dead database holds open for up to ~8 s (its heartbeat): give them time.
    took = await until(all_verified, 60, "every case verified during the outage")
    await asyncio.sleep(max(0.0, OUTAGE[database.kind] - (time.monotonic() - down_at)))
    # No workflow query here: a query waits for the workflow task, which a local activity
    # stuck on the database holds. SQLite still lets us read; PostgreSQL refuses us too.
    projected_during = await _projected(stack, cases) if database.kind == "sqlite" else None
    refused_at_end = await database.probe_write()
    await database.bring_up()
    up_at, up_wall = time.monotonic(), datetime.now(UTC)
    print(
        f"{database.kind} down {up_at - down_at:.1f} s "
        f"(all verified after {took:.1f} s): {refused_at_start}"
    )

    results = await driving
    problems, views = await closure_problems(
        stack.client, database.sessions, stack.gateway, cases, results
    )
    during = [e.kind for v in views.values() for e in v.timeline if down_wall <= e.at <= up_wall]
    print(f"{len(during)} timeline entries made while down; {projected_before} projected before")
    slow = [secs for at, _, secs in driver.latencies if down_at <= at <= up_at]
    print(f"actions answered while down: {len(slow)}, slowest {max(slow, default=0):.1f} s")
    if refused_at_start is None or refused_at_end is None:
        problems.append(f"the database was not down: {refused_at_start!r}, {refused_at_end!r}")
    if len(during) < 2 * CASES:  # at least resolved + verified for each case
        problems.append(f"cases hardly progressed while the database was down: {during}")
    if projected_during is not None and projected_during != projected_before:
        problems.append(f"projected {projected_during - projected_before} entries while down")
    print(f"{CASES} cases closed {time.monotonic() - began:.1f} s after the start")
    assert not problems, report(f"after the {database.kind} database was down", problems)


async def _projected(stack: FaultStack, cases: list[str]) -> int:
    async with stack.database.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(CaseEvent).where(col(CaseEvent.case_id).in_(cases))
        )
    return int(count or 0)
