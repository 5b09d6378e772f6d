"""The Temporal dev server stopped (SIGTERM) and started again on its file and port.

This is an operator's restart of the cluster under running cases: half of them are held
at "accepted" so they are surely open across it, the worker process keeps running through
the outage (its polls fail and must resume on their own), and the test's client keeps its
connection object. Every case must then continue where it was and close exactly once.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from tests.faults.checks import closure_problems, report
from tests.faults.driver import ACCEPT, Driver, until
from tests.faults.stack import FaultStack, short_sla

CASES = 12
SLA = short_sla(accept=5, resolve=20, department=20, verify=20)
DOWN = 4.0  # seconds without a server


async def test_dev_server_restart_cases_continue_and_close(stack: FaultStack) -> None:
    began = time.monotonic()
    await stack.add_stewards(8, capacity=2)
    worker = await stack.start_worker()
    cases = await stack.open_cases(CASES, SLA)
    held = cases[CASES // 2 :]
    driver = Driver(stack.client, stack.gateway)
    driver.limit(held, ACCEPT)
    driving = asyncio.create_task(driver.drive_all(cases, within=150))

    async def some_accepted() -> bool:
        return (await driver.statuses(held))["accepted"] >= 3

    await until(some_accepted, 60, "held cases to be accepted")
    before = await driver.statuses(cases)
    stopped_at, stopped_wall = time.monotonic(), datetime.now(UTC)
    await stack.server.stop()
    await asyncio.sleep(DOWN)
    assert worker.alive, f"the worker died with the server:\n{worker.tail()}"
    await stack.server.start()
    print(f"server down {time.monotonic() - stopped_at:.1f} s with cases {before}")
    driver.release_all()
    results = await driving

    problems = [] if worker.alive else [f"worker exited after the restart:\n{worker.tail()}"]
    found, views = await closure_problems(
        stack.client, stack.database.sessions, stack.gateway, cases, results
    )
    problems += found
    for case_id in held:  # held at "accepted": they can only have closed after the restart
        closed = [e.at for e in views[case_id].timeline if e.kind == "closed"]
        if not closed or closed[0] < stopped_wall:
            problems.append(f"{case_id}: closed at {closed}, not after the restart")
    print(f"{CASES} cases closed {time.monotonic() - began:.1f} s after the start")
    assert not problems, report("after a dev server restart", problems)
