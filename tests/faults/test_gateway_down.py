"""The chat-bot gateway answers 503 to everything for a while, then recovers.

Half the cases are dispatched and told before the outage; the other half start during
it, so their offers cannot reach anyone: deadlines pass, offers move on to the next steward
and to the department, and all those messages queue up in the outbox. After the gateway
comes back, every message must arrive: none lost (each one the timelines imply), none
twice, and in order per recipient: each steward (up to two cases each) and the department
(every escalated case) get their messages in the order they were queued, whichever case
queued them (``cross_case_inversions``: none allowed, checked by ``closure_problems``).

And the cases hand every message over to the outbox at once, outage or not: the time from
the timeline entry that queued a message to its row in the outbox stays far below the
outage (``queue_lags``), where a per-case queue would hold later messages back until the
gateway took the first.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from tests.faults.checks import (
    closure_problems,
    cross_case_inversions,
    notifications,
    queue_lags,
    recipient_of,
    report,
)
from tests.faults.driver import Driver, until
from tests.faults.stack import FaultStack, short_sla
from tools.fake_gateway import FakeGateway

CASES = 10
SLA = short_sla(accept=4, resolve=20, department=20, verify=20)
OUTAGE = 15.0  # seconds of 503s
FOREVER = 10**9
MAX_QUEUE_LAG = 2.0  # seconds from timeline entry to outbox row (~0.2 s seen on 2 cores)


async def test_gateway_down_messages_late_never_lost_or_doubled(stack: FaultStack) -> None:
    began = time.monotonic()
    gateway = stack.gateway
    await stack.add_stewards(6, capacity=2)  # stewards with two cases: cross-case order
    await stack.start_worker()
    driver = Driver(stack.client, gateway)
    early = await stack.open_cases(CASES // 2, SLA)
    driving = [asyncio.create_task(driver.drive_all(early, within=150))]

    async def early_told() -> bool:
        return len({m["case_id"] for m in gateway.messages if m["kind"] == "new_task"}) >= 3

    await until(early_told, 30, "the first offers to arrive")
    gateway.fail_next(FOREVER)
    down_at, before = time.monotonic(), len(gateway.messages)
    late = await stack.open_cases(CASES - len(early), SLA)
    driving.append(asyncio.create_task(driver.drive_all(late, within=150)))
    await asyncio.sleep(OUTAGE)
    accepted_while_down = len(gateway.messages) - before
    gateway.fail_next(0)
    print(f"gateway down {time.monotonic() - down_at:.1f} s: {len(gateway.failed)} requests 503")

    results = {}
    for task in driving:
        results.update(await task)
    cases = early + late
    problems, views = await closure_problems(
        stack.client, stack.database.sessions, gateway, cases, results
    )
    delivered = {m["message_id"] for m in gateway.messages}
    failed = {m["message_id"] for m in gateway.failed}
    if not failed:
        problems.append("the outage refused nothing: no message was due during it")
    problems += [
        f"message {m} refused during the outage, never delivered" for m in failed - delivered
    ]
    if accepted_while_down:
        problems.append(f"{accepted_while_down} messages accepted while the gateway was down")
    print(f"{len(failed)} distinct messages were refused and delivered later")
    rows = await notifications(stack.database.sessions, cases)
    inversions = cross_case_inversions(gateway, rows)
    print(f"cross-case arrivals out of queue order, per recipient: {inversions}")
    shared = {k: v for k, v in recipients(gateway).items() if len(v) > 1}
    print(f"recipients with messages of several cases: {len(shared)} {sorted(shared)}")
    if not any(k.startswith("steward") for k in shared):
        problems.append("no steward got messages of two cases: cross-case order untested")
    lags = queue_lags(rows, views)
    slowest = sorted(lags.items(), key=lambda item: -item[1])[:3]
    print(f"timeline entry -> outbox row over {len(lags)} messages, slowest: {slowest}")
    problems += [
        f"message {key} reached the outbox {lag:.1f} s after its timeline entry"
        for key, lag in sorted(lags.items())
        if lag > MAX_QUEUE_LAG
    ]
    print(f"{CASES} cases closed {time.monotonic() - began:.1f} s after the start")
    assert not problems, report("after a gateway outage", problems)


def recipients(gateway: FakeGateway) -> dict[str, set[str]]:
    """Per recipient, the cases whose messages reached them."""
    seen: dict[str, set[str]] = defaultdict(set)
    for message in gateway.messages:
        seen[recipient_of(message)].add(str(message["case_id"]))
    return seen
