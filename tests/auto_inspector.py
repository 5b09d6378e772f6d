"""A test-only "auto inspector": drives a campaign's visits through the real updates.

Time is driven by hand (automatic time skipping off): the loop waits until every
inspection the campaign started has booked its visit, answers every visit whose booked
time has come (check in, every item, finish: three updates, as an inspector's app would),
then skips the server's clock to the next booked visit. So the simulated round time is
set by the booking calendar and the workflows' timers, never by how fast this machine is.
Hazards are decided by a hash of (enterprise, item): the same round gives the same hazards.

It reads the projection, never the campaign's query, while the round runs: on the Java
time-skipping test server a query that arrives while a workflow continues as new is left
unanswered and freezes the clock for good (a test-server bug, not Temporal's; see
temporalio/sdk-java#1618 for its cousin with child workflows).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

from constants import inspection_workflow_id
from schemas.inspections.tables import InspectionRecord
from schemas.inspections.workflow import (
    FinishVisit,
    InspectionView,
    ItemResult,
    RecordResults,
    StartVisit,
)
from services.platform.db import SessionFactory, utc
from tests.inspection_support import inspector, key

WAITING = ("preparing", "unassigned", "scheduled", "visiting")


def is_hazard(enterprise_id: str, item_code: str, per_mille: int) -> bool:
    digest = hashlib.sha256(f"{enterprise_id}|{item_code}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 1000 < per_mille


@dataclass
class AutoInspector:
    env: WorkflowEnvironment
    sessions: SessionFactory
    campaign_id: str
    planned: int
    max_in_flight: int
    hazard_per_mille: int = 5
    concurrency: int = 20
    finished: set[str] = field(default_factory=set)
    steps: int = 0

    def expected(self) -> int:
        """How many inspections the campaign has started once it has caught up: every
        visit answered frees one slot, and the campaign never has more than its limit."""
        return min(len(self.finished) + self.max_in_flight, self.planned)

    async def _booked(self, patience: float = 60) -> list[tuple[str, datetime]]:
        """Wait until the campaign has caught up and every inspection it started is
        projected as booked; return the visit times of those not yet answered."""
        limit = asyncio.get_running_loop().time() + patience
        in_round = col(InspectionRecord.campaign_id) == self.campaign_id
        while True:
            async with self.sessions() as session:
                total = await session.scalar(
                    select(func.count()).select_from(InspectionRecord).where(in_round)
                )
                rows = (
                    await session.execute(
                        select(
                            col(InspectionRecord.inspection_id),
                            col(InspectionRecord.status),
                            col(InspectionRecord.visit_at),
                        ).where(in_round, col(InspectionRecord.status).in_(WAITING))
                    )
                ).all()
            pending = [r for r in rows if r[0] not in self.finished]
            if total == self.expected() and all(r[1] == "scheduled" for r in pending):
                return [(r[0], utc(r[2]) or datetime.max) for r in pending]
            if asyncio.get_running_loop().time() > limit:
                states = sorted({r[1] for r in pending})
                raise AssertionError(f"{total}/{self.expected()} projected, pending {states}")
            await asyncio.sleep(0.05)

    async def visit(self, inspection_id: str) -> None:
        handle = self.env.client.get_workflow_handle(inspection_workflow_id(inspection_id))
        view: InspectionView = await handle.query("view", result_type=InspectionView)
        assert view.inspector_id is not None
        me = inspector(view.inspector_id)
        await handle.execute_update("start_visit", StartVisit(actor=me, idempotency_key=key()))
        items = []
        for slot in view.items:
            if slot.item.automatic:
                continue
            if is_hazard(view.enterprise_id, slot.item.code, self.hazard_per_mille):
                answer = slot.item.answers[0].code
                items.append(ItemResult(item_code=slot.item.code, outcome="hazard", answer=answer))
            else:
                items.append(ItemResult(item_code=slot.item.code, outcome="pass"))
        results = RecordResults(actor=me, idempotency_key=key(), items=items)
        await handle.execute_update("record_results", results)
        await handle.execute_update("finish_visit", FinishVisit(actor=me, idempotency_key=key()))

    async def run(self, patience: float = 600) -> None:
        """Visit everything the campaign books until its round is complete."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(inspection_id: str) -> None:
            async with gate:
                await self.visit(inspection_id)

        limit = asyncio.get_running_loop().time() + patience
        with self.env.auto_time_skipping_disabled():
            while asyncio.get_running_loop().time() < limit:
                if len(self.finished) >= self.planned:
                    return
                booked = await self._booked()
                now = await self.env.get_current_time()
                due = [i for i, at in booked if at <= now]
                self.steps += 1
                if due:
                    await asyncio.gather(*(one(i) for i in due))
                    self.finished.update(due)
                    continue
                wait = min(at for _, at in booked) - now
                await self.env.sleep(max(wait, timedelta(seconds=1)))
        raise AssertionError(f"round not complete after {patience}s: {len(self.finished)} visited")
