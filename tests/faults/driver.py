"""The people around the cases: stewards, the department and the linkage center.

Each case gets a coroutine that looks at it (``describe``: the status and steward search
attributes, answered by the server even while no worker runs) and does what the person
whose turn it is would do, as a workflow update from the test's client:

* a steward accepts, then reports it resolved, but only once the gateway has delivered the
  ``new_task`` message naming them (a steward knows of a task only through the bot);
* the department takes an escalated case once its ``new_case`` message has arrived, and
  reports it solved;
* a supervisor verifies every result.

``limits`` holds a case back at a stage (nothing, accept only, up to resolved) so a test
can line cases up in different stages before it strikes. Every action carries an
idempotency key that stays the same until the action got an answer, so an action cut off
by a dead worker or server is retried as the same update and can never apply twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus

from constants import SA_DEPARTMENT, SA_STATUS, SA_STEWARD, case_workflow_id
from schemas.cases.views import CaseResult
from schemas.cases.workflow import (
    AcceptTask,
    DepartmentAccept,
    DepartmentReport,
    ReportResolved,
    VerifyResult,
)
from schemas.platform.common import Actor, HumanAction
from schemas.platform.updates import Update
from services.cases.operations import act
from services.temporal_gateway import ActionRefused
from tools.fake_gateway import FakeGateway

NOTHING, ACCEPT, RESOLVE, FULL = 0, 1, 2, 3
SUPERVISOR = Actor(role="supervisor", id="center-faults")
ACTION_WAIT = 15.0  # seconds an update may wait for a worker before we ask again


@dataclass(frozen=True)
class Snapshot:
    """What ``describe`` says about a case."""

    running: bool
    status: str
    steward: str | None
    department: str | None


class Driver:
    """Drives cases to closure; see the module docstring."""

    def __init__(self, client: Client, gateway: FakeGateway, limit: int = FULL) -> None:
        self.client = client
        self.gateway = gateway
        self.default = limit
        self.limits: dict[str, int] = {}
        self.last: dict[str, Snapshot] = {}
        self.results: dict[str, CaseResult] = {}
        self.log: list[str] = []
        self.latencies: list[tuple[float, str, float]] = []  # (answered at, update, seconds)
        self._answered: Counter[str] = Counter()

    def limit(self, case_ids: Iterable[str], level: int) -> None:
        for case_id in case_ids:
            self.limits[case_id] = level

    def release_all(self) -> None:
        self.default = FULL
        self.limits.clear()

    async def snapshot(self, case_id: str) -> Snapshot | None:
        """None while the server cannot answer (it is being restarted)."""
        handle = self.client.get_workflow_handle(case_workflow_id(case_id))
        try:
            described = await asyncio.wait_for(handle.describe(), 5)
        except Exception as error:  # server away: try again later
            self._note(case_id, f"describe failed: {type(error).__name__}")
            return None
        attributes = described.typed_search_attributes
        snap = Snapshot(
            running=described.status == WorkflowExecutionStatus.RUNNING,
            status=attributes.get(SA_STATUS) or "?",
            steward=attributes.get(SA_STEWARD),
            department=attributes.get(SA_DEPARTMENT),
        )
        self.last[case_id] = snap
        return snap

    async def statuses(self, case_ids: Iterable[str]) -> Counter[str]:
        snaps = await asyncio.gather(*(self.snapshot(c) for c in case_ids))
        return Counter(s.status if s and s.running else "ended" for s in snaps)

    async def drive_all(self, case_ids: list[str], within: float) -> dict[str, CaseResult]:
        """Every case to its end, or an AssertionError naming those that did not get there."""
        deadline = time.monotonic() + within
        outcomes = await asyncio.gather(
            *(self._drive(c, deadline) for c in case_ids), return_exceptions=True
        )
        failed = {c: o for c, o in zip(case_ids, outcomes, strict=True) if isinstance(o, Exception)}
        if failed:
            lines = [f"{c}: {type(o).__name__}: {o}" for c, o in failed.items()]
            raise AssertionError(
                f"{len(failed)} of {len(case_ids)} cases did not end:\n"
                + "\n".join(lines[:20])
                + "\nlast driver actions:\n"
                + "\n".join(self.log[-30:])
            )
        return dict(self.results)

    async def _drive(self, case_id: str, deadline: float) -> CaseResult:
        handle = self.client.get_workflow_handle(case_workflow_id(case_id), result_type=CaseResult)
        while True:
            snap = await self.snapshot(case_id)
            if snap is not None and not snap.running:
                result: CaseResult = await handle.result()
                self.results[case_id] = result
                return result
            if snap is not None:
                await self._step(case_id, snap)
            if time.monotonic() > deadline:
                raise TimeoutError(f"still {self.last.get(case_id)}")
            await asyncio.sleep(0.4)

    async def _step(self, case_id: str, snap: Snapshot) -> None:
        level = self.limits.get(case_id, self.default)
        status, steward = snap.status, snap.steward
        if status == "dispatched" and level >= ACCEPT and steward:
            offer = self.offered(case_id, steward)
            if offer is not None:
                who = Actor(role="steward", id=steward)
                await self._act(
                    case_id,
                    Update.ACCEPT_TASK,
                    lambda key: AcceptTask(actor=who, idempotency_key=key, attempt=offer),
                )
        elif status == "accepted" and level >= RESOLVE and steward:
            offer = self.offered(case_id, steward)
            who = Actor(role="steward", id=steward)
            await self._act(
                case_id,
                Update.REPORT_RESOLVED,
                lambda key: ReportResolved(
                    actor=who, idempotency_key=key, attempt=offer, note="cleared on site"
                ),
            )
        elif status == "resolved" and level >= FULL:
            await self._act(
                case_id,
                Update.VERIFY,
                lambda key: VerifyResult(actor=SUPERVISOR, idempotency_key=key, passed=True),
            )
        elif status == "escalated" and level >= FULL and snap.department:
            if self.department_told(case_id):
                dept = Actor(role="department", id=snap.department)
                await self._act(
                    case_id,
                    Update.DEPARTMENT_ACCEPT,
                    lambda key: DepartmentAccept(actor=dept, idempotency_key=key),
                )
        elif status == "department_handling" and level >= FULL and snap.department:
            dept = Actor(role="department", id=snap.department)
            await self._act(
                case_id,
                Update.DEPARTMENT_REPORT,
                lambda key: DepartmentReport(actor=dept, idempotency_key=key, note="towed away"),
            )

    def offered(self, case_id: str, steward: str) -> int | None:
        """The attempt of the newest ``new_task`` the steward has received for the case."""
        attempts = [
            int(m["attempt"])
            for m in self.gateway.messages
            if m.get("case_id") == case_id
            and m.get("steward_id") == steward
            and m.get("kind") == "new_task"
        ]
        return max(attempts) if attempts else None

    def department_told(self, case_id: str) -> bool:
        return any(
            m.get("case_id") == case_id and m.get("kind") == "new_case" and "department" in m
            for m in self.gateway.messages
        )

    async def _act(self, case_id: str, update: Update, build: Callable[[str], HumanAction]) -> None:
        name = f"{case_id}.{update}"
        action = build(f"{name}.{self._answered[name]}")
        asked = time.monotonic()
        try:
            outcome: Any = await asyncio.wait_for(
                act(self.client, case_id, update, action), ACTION_WAIT
            )
        except ActionRefused as refused:  # the case moved on (too late...): look again
            self._answered[name] += 1
            self._note(case_id, f"{update} refused: {refused.code}")
            return
        except Exception as error:  # worker or server away: the same key next time
            self._note(case_id, f"{update} not answered: {type(error).__name__}: {error}"[:200])
            return
        self._answered[name] += 1
        answered = time.monotonic()
        self.latencies.append((answered, update, answered - asked))
        self._note(case_id, f"{update} -> {outcome.status} in {answered - asked:.1f} s")

    def _note(self, case_id: str, what: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {case_id} {what}")


async def until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Poll ``check`` until it holds; the seconds it took, or TimeoutError saying ``what``."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > within:
            raise TimeoutError(f"gave up after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.25)
    return time.monotonic() - start
