"""A worker process SIGKILLed while 30 cases are in flight; a new worker finishes them.

Cases are lined up in different stages first (a third driven freely, a third held at
"resolved, not verified", a third never answered so their offers time out and move to the
next steward and then to the department), and the kill lands at the moment a message
reaches the gateway, before the gateway's answer gets back. That is the one instant at which
a crash can matter to the outside world: any other instant is covered by Temporal's replay
and the idempotent activities. Aiming at it makes the test deterministic instead of
catching the window by luck.

Then: the worker is gone for a few seconds (timers keep firing on the server), a new
worker process starts, everyone acts again, and every case must close exactly once with a
gap-free projected timeline, stewards free, and each message delivered exactly once.
"""

from __future__ import annotations

import asyncio
import time

from tests.faults.checks import closure_problems, report, steward_problems
from tests.faults.driver import NOTHING, RESOLVE, Driver, until
from tests.faults.stack import FaultStack, short_sla
from tools.fake_gateway import Message

CASES = 30
SLA = short_sla(accept=4, resolve=10, department=12, verify=10)


async def test_worker_killed_mid_case_every_case_closes_exactly_once(stack: FaultStack) -> None:
    began = time.monotonic()
    await stack.add_stewards(12, capacity=2)  # 24 places for 30 cases: some wait, some go on
    first = await stack.start_worker()
    cases = await stack.open_cases(CASES, SLA)
    driver = Driver(stack.client, stack.gateway)
    driver.limit(cases[10:20], RESOLVE)
    driver.limit(cases[20:], NOTHING)
    driving = asyncio.create_task(driver.drive_all(cases, within=150))

    async def mixed() -> bool:
        counts = await driver.statuses(cases)
        return counts["dispatched"] >= 3 and counts["resolved"] >= 3

    await until(mixed, 60, "cases both dispatched and resolved")
    struck: list[Message] = []

    def strike(message: Message) -> None:
        if not struck:
            struck.append(message)
            first.kill()

    async def gone() -> bool:
        return not first.alive

    stack.gateway.on_message = strike
    await until(gone, 30, "a message, to kill the worker on")
    stack.gateway.on_message = None
    at_kill = await driver.statuses(cases)
    problems = await steward_problems(stack.database.sessions, all_closed=False)
    print(f"killed at {time.monotonic() - began:.1f} s on {struck[0]['message_id']}: {at_kill}")
    assert at_kill["ended"] < CASES, "nothing left in flight: the kill came too late"

    await asyncio.sleep(3)  # no worker at all: accept deadlines pass on the server meanwhile
    await stack.start_worker()
    driver.release_all()
    results = await driving
    found, _ = await closure_problems(
        stack.client, stack.database.sessions, stack.gateway, cases, results
    )
    problems += found
    print(f"{CASES} cases closed {time.monotonic() - began:.1f} s after the start")
    killed_on = struck[0]["message_id"]
    assert not problems, report(f"after a worker SIGKILL on delivery of {killed_on}", problems)
