"""Coalescing: later detections of an open scene reach their case as one update per flush.

The first detection of a scene opens its case at once (update-with-start, as
``services.intake.merge`` always did). Every later one, while the case is open and the burst
goes on, is only *recorded*: a ``detection`` row with its ``case_id`` and ``pending``. A
flusher in every API process sends, at most every ``intake_coalesce_seconds``, one
``add_evidence`` per case carrying what its pending rows add up to: how many, the first and
last detection time, and the best-confidence snapshot. A camera staring at a parked car for
ten minutes is then ~120 updates instead of 600 (Temporal allows 2,000 per run, and each
update is a workflow task), and the API's path of a merged detection is a database write.

Several API processes flush the same table: a flusher *claims* rows by giving them a
``batch_id`` (``SELECT .. FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two flushers never
claim the same row; SQLite has one writer at a time), then sends the update with that id as
its update id, then clears ``pending``. A flusher that dies between claim and clear leaves a
claim that another one takes over after ``RECLAIM_AFTER`` and sends again under the same id:
the same rows, the same update id, so Temporal applies it once.

A case that ended between the record and the flush takes no more evidence: its rows stay
recorded (``outcome`` ``recorded``), and the next detection of that scene opens a new case
(the API checks the projection's status before coalescing: ``DeviceRuntime.coalescible``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlmodel import col
from temporalio.client import Client

from schemas.cases.workflow import AddEvidence
from schemas.intake.tables import Detection
from schemas.platform.common import Actor, Evidence
from schemas.platform.updates import Update
from services.cases import operations as cases
from services.cases.operations import CaseNotFound
from services.platform.db import SessionFactory, utc
from services.temporal_gateway import ActionRefused

log = logging.getLogger(__name__)

RECLAIM_AFTER = timedelta(seconds=60)
CLAIM_LIMIT = 5_000
SENDERS = 16  # updates in flight per flusher (distinct cases: one update per case per flush)
ENDED = ("closed", "cancelled")
# Core statements (executemany with a parameter set per row / per batch): the claim of a
# flush and its clearing are one statement each, whatever the number of cases
_table: Table = Detection.__table__  # type: ignore[attr-defined]
CLAIM = (
    update(_table)
    .where(_table.c.id == bindparam("row"))
    .values(batch_id=bindparam("bid"), batch_at=bindparam("at"))
)
CLEAR = (
    update(_table)
    .where(_table.c.batch_id == bindparam("bid"))
    .values(pending=False, outcome=bindparam("out"))
)


def batch_id(case_id: str, ids: list[int]) -> str:
    """The update id of a batch: fixed by its rows, so a re-sent claim is the same update."""
    digest = hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:16]
    return f"coal:{case_id}:{digest}"


def summary(rows: list[Any]) -> tuple[str, Evidence]:
    """The coalesced note (count, first and last time, best confidence) and best snapshot."""
    best = max(rows, key=lambda r: (r.confidence or 0.0, -r.id))
    first = min(utc(r.occurred_at) for r in rows)  # type: ignore[type-var]
    last = max(utc(r.occurred_at) for r in rows)  # type: ignore[type-var]
    assert first is not None and last is not None
    plate = f", plate {best.plate}" if best.plate else ""
    note = (
        f"{len(rows)} detections {first.isoformat(timespec='seconds')} - "
        f"{last.isoformat(timespec='seconds')}, best confidence {best.confidence or 0:.2f}"
    )
    evidence = Evidence(
        kind="snapshot",
        url=best.snapshot_url,
        note=f"{best.detection_type} {best.confidence or 0:.2f} at "
        f"{utc(best.occurred_at).isoformat()}{plate}",  # type: ignore[union-attr]
    )
    return note, evidence


def detections_in(note: str | None) -> int:
    """How many detections a timeline entry carries (1 unless it is a coalesced one)."""
    if note and note.split(" ", 2)[1:2] == ["detections"] and note.split(" ", 1)[0].isdigit():
        return int(note.split(" ", 1)[0])
    return 1


@dataclass
class FlushStats:
    updates: int = 0
    detections: int = 0
    ended: int = 0


class Coalescer:
    """The flusher of one API process (a background task for the API's lifetime)."""

    def __init__(
        self,
        client: Client,
        sessions: SessionFactory,
        seconds: float,
        batch: int = 1,
        max_wait: timedelta = timedelta(0),
    ) -> None:
        self._client, self._sessions, self._seconds = client, sessions, seconds
        self._batch, self._max_wait = batch, max_wait
        self._task: asyncio.Task[None] | None = None
        self.stats = FlushStats()
        self.full_cases: set[str] = set()
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="detection-coalescer")

    async def stop(self) -> None:
        """Let a flush in progress finish (a cancelled one would leave its rows claimed until
        ``RECLAIM_AFTER``), then send all that is pending, once."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):  # then it is cancelled: rows wait
                await asyncio.wait_for(self._task, timeout=30)
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush(force=True)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                await self.flush()
            except Exception:
                log.warning("coalesced flush failed; pending detections wait", exc_info=True)
            pause = max(0.0, self._seconds - (time.monotonic() - began))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=pause)

    async def flush(self, force: bool = False) -> int:
        """Claim what is pending, send one update per case; the number of updates sent.

        A case is sent once it has ``batch`` detections waiting or its oldest has waited
        ``max_wait`` (``force``: every case): a quiet scene costs one update per
        ``max_wait``, a busy one one per ``batch`` detections, never more than one a flush.
        """
        batches = await self._claim(force)
        gate = asyncio.Semaphore(SENDERS)

        async def deliver(bid: str, rows: list[Any]) -> str:
            async with gate:
                return await self._deliver(bid, rows)

        outcomes = await asyncio.gather(
            *(deliver(bid, rows) for bid, rows in batches.items()), return_exceptions=True
        )
        done = [
            (bid, outcome)
            for bid, outcome in zip(batches, outcomes, strict=True)
            if isinstance(outcome, str)
        ]
        await self._clear(done)  # one statement for the flush, not one per case
        for outcome in outcomes:
            if isinstance(outcome, BaseException):  # its rows stay claimed: sent again later
                raise outcome
        return sum(outcome == "merged" for _, outcome in done)

    async def _claim(self, force: bool = False) -> dict[str, list[Any]]:
        now = datetime.now(UTC)
        ready = (
            select(col(Detection.case_id))
            .where(col(Detection.pending))
            .where(col(Detection.batch_id).is_(None))
            .group_by(col(Detection.case_id))
            .having(
                or_(
                    func.count() >= (1 if force else self._batch),
                    func.min(Detection.received_at) <= now - self._max_wait,
                )
            )
        )
        columns = (
            Detection.id, Detection.case_id, Detection.device_id, Detection.batch_id,
            Detection.batch_at, Detection.confidence, Detection.occurred_at,
            Detection.snapshot_url, Detection.detection_type, Detection.plate,
        )  # fmt: skip
        async with self._sessions() as session, session.begin():
            query = (
                select(*columns)  # type: ignore[call-overload]
                .where(col(Detection.pending))
                .where(or_(col(Detection.batch_id).is_not(None), col(Detection.case_id).in_(ready)))
                .order_by(col(Detection.id))
                .limit(CLAIM_LIMIT)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            fresh: dict[str, list[Any]] = defaultdict(list)
            claimed: dict[str, list[Any]] = defaultdict(list)
            for row in rows:
                if row.batch_id is None:
                    fresh[row.case_id].append(row)
                elif utc(row.batch_at) < now - RECLAIM_AFTER:  # type: ignore[operator]
                    claimed[row.batch_id].append(row)  # a dead flusher's: same id again
            claims = []  # one executemany for every case's rows, not a statement per case
            for case_id, group in fresh.items():
                bid = batch_id(case_id, [r.id for r in group])
                claimed[bid] = group
                claims += [{"row": r.id, "bid": bid, "at": now} for r in group]
            if claims:
                await session.execute(CLAIM, claims)
            for bid, group in claimed.items():
                if group[0].batch_id is not None:
                    await session.execute(
                        update(Detection).where(col(Detection.batch_id) == bid).values(batch_at=now)
                    )
        return dict(claimed)

    async def _send(self, bid: str, rows: list[Any]) -> int:
        """Send one claimed batch and clear it (1 if its case took it)."""
        outcome = await self._deliver(bid, rows)
        await self._clear([(bid, outcome)])
        return int(outcome == "merged")

    async def _deliver(self, bid: str, rows: list[Any]) -> str:
        """Send one claimed batch as its case's update: ``merged``, or ``recorded`` when the
        case is gone or ended (its rows stay recorded, as any detection of an ended case)."""
        case_id: str = rows[0].case_id
        note, evidence = summary(rows)
        action = AddEvidence(
            actor=Actor(role="device", id=rows[0].device_id),
            idempotency_key=bid,
            evidence=[evidence],
            note=note,
        )
        outcome = "merged"
        try:
            result = await cases.act(self._client, case_id, Update.ADD_EVIDENCE, action)
        except CaseNotFound:
            outcome = "recorded"
        except ActionRefused as refused:  # ended; or refused for good: no retry would pass
            if refused.code != "case_ended":
                log.warning("coalesced update to %s refused: %s", case_id, refused.code)
            outcome = "recorded"
        else:
            from services.intake.merge import MAX_ATTACHED_PER_CASE

            if result.seq >= MAX_ATTACHED_PER_CASE:
                self.full_cases.add(case_id)
        self.stats.updates += outcome == "merged"
        self.stats.ended += outcome != "merged"
        self.stats.detections += len(rows)
        return outcome

    async def _clear(self, done: list[tuple[str, str]]) -> None:
        """Mark sent batches no longer pending, in one transaction (one executemany)."""
        if not done:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(CLEAR, [{"bid": bid, "out": outcome} for bid, outcome in done])
