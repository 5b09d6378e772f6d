"""Coalescing: later detections of an open scene reach their case as one update per flush.

The first detection of a scene opens its case at once (it starts the case's workflow:
``services.intake.merge``). Every later one, while the case is open and the burst
goes on, is only *recorded*: a ``detection`` row with its ``case_id`` and ``pending``. A
flusher in every API process sends, at most every ``intake_coalesce_seconds`` per case, one
``add_evidence`` carrying what its pending rows add up to: how many, the first and
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
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, literal, or_, select, update
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
# The flusher looks this many times per ``seconds``: each case is sent when *it* is due, so
# the updates (and the worker's and Temporal's work for them) come as a steady trickle, not
# as one burst per interval that took both cores for a second and gave every post waiting
# meanwhile a tail of 200 ms (bench/RESULTS.md).
TICKS = 5
# ...and sends at most this many updates a second (the cases waiting longest first; the rest
# a tick later, with more detections each): scenes opened together fall due together, and
# two hundred updates at once took both cores from the posts for a second, ten seconds
# after every burst of new scenes (bench/RESULTS.md). Each update is ~20 ms of the worker's
# and Temporal's CPU: 40 a second is most of a core, more than a town's cameras need at
# 1,000 detections a second (200 scenes / 10 s).
MAX_UPDATES_PER_SECOND = 40
ENDED = ("closed", "cancelled")
# Core statements built once: the columns a claim returns, and the take-over of a dead
# flusher's claims and the clearing of sent batches (executemany, a parameter set per batch).
# A batch's rows are found by its case among the rows still pending: the partial index
# ``ix_detection_pending`` (case_id, id) WHERE pending. ``batch_id`` alone has no index, and
# a clear by it scanned the whole audit table once per batch (bench/RESULTS.md: the
# database's busiest statement at 1,000 detections a second, and growing with the table).
_table: Table = Detection.__table__  # type: ignore[attr-defined]
_BATCH = (
    _table.c.pending
    & (_table.c.case_id == bindparam("case"))
    & (_table.c.batch_id == bindparam("bid"))
)
COLUMNS = tuple(
    _table.c[name]
    for name in (
        "id", "case_id", "device_id", "batch_id", "batch_at", "confidence", "occurred_at",
        "snapshot_url", "detection_type", "plate", "kind", "value",
    )
)  # fmt: skip
RETAKE = update(_table).where(_BATCH).values(batch_at=bindparam("at"))
CLEAR = update(_table).where(_BATCH).values(pending=False, outcome=bindparam("out"))


def summary(rows: list[Any]) -> tuple[str, Evidence]:
    """The coalesced note (count, first and last time, best confidence) and best snapshot;
    for a sensor's alarms, their count, times and highest reading."""
    first = min(utc(r.occurred_at) for r in rows)  # type: ignore[type-var]
    last = max(utc(r.occurred_at) for r in rows)  # type: ignore[type-var]
    assert first is not None and last is not None
    span = f"{first.isoformat(timespec='seconds')} - {last.isoformat(timespec='seconds')}"
    if rows[0].kind == "alarm":
        readings = [r.value for r in rows if r.value is not None]
        peak = f", highest reading {max(readings):g}" if readings else ""
        note = f"{len(rows)} alarms {span}{peak}"
        return note, Evidence(kind="sensor", note=f"{rows[0].detection_type} {note}")
    best = max(rows, key=lambda r: (r.confidence or 0.0, -r.id))
    plate = f", plate {best.plate}" if best.plate else ""
    note = f"{len(rows)} detections {span}, best confidence {best.confidence or 0:.2f}"
    evidence = Evidence(
        kind="snapshot",
        url=best.snapshot_url,
        note=f"{best.detection_type} {best.confidence or 0:.2f} at "
        f"{utc(best.occurred_at).isoformat()}{plate}",  # type: ignore[union-attr]
    )
    return note, evidence


def detections_in(note: str | None) -> int:
    """How many reports a timeline entry carries (1 unless it is a coalesced one)."""
    words = (note or "").split(" ", 2)
    if words[1:2] in (["detections"], ["alarms"]) and words[0].isdigit():
        return int(words[0])
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
        self._tick = seconds / TICKS
        self._per_tick = max(1, round(MAX_UPDATES_PER_SECOND * self._tick))
        self._sent: dict[str, float] = {}  # case -> when this process last sent it an update

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
            pause = max(0.0, self._tick - (time.monotonic() - began))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=pause)

    async def flush(self, force: bool = False) -> int:
        """Claim what is pending, send one update per case; the number of updates sent.

        A case is sent once it has ``batch`` detections waiting or its oldest has waited
        ``max_wait`` (``force``: every case): a quiet scene costs one update per
        ``max_wait``, a busy one one per ``batch`` detections, and never more than one per
        ``seconds`` from this process (the flusher runs every ``seconds / TICKS``).
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
            (rows[0].case_id, bid, outcome)
            for (bid, rows), outcome in zip(batches.items(), outcomes, strict=True)
            if isinstance(outcome, str)
        ]
        await self._clear(done)  # one statement for the flush, not one per case
        for outcome in outcomes:
            if isinstance(outcome, BaseException):  # its rows stay claimed: sent again later
                raise outcome
        return sum(outcome == "merged" for _, _, outcome in done)

    async def _claim(self, force: bool = False) -> dict[str, list[Any]]:
        """Claim the rows of the cases due (and take over claims a dead flusher left).

        One ``UPDATE .. RETURNING`` for the whole flush: each case's rows get the batch id
        ``coal:<case>:<claim token>`` in the database itself. Before, the rows were read and
        then claimed by an executemany of one parameter set per row: at 600 detections a
        second that was thousands of parameter sets built in the API's event loop every
        flush, and every post waiting behind them had a tail of 200 ms (bench/RESULTS.md).
        """
        now = datetime.now(UTC)
        ready = (
            select(col(Detection.case_id))
            .where(col(Detection.pending))
            .where(col(Detection.batch_id).is_(None))
            .where(col(Detection.case_id).not_in(() if force else self._recent()))
            .group_by(col(Detection.case_id))
            .having(
                or_(
                    func.count() >= (1 if force else self._batch),
                    func.min(Detection.received_at) <= now - self._max_wait,
                )
            )
        )
        if not force:  # the longest waiting first, at most ``_per_tick`` cases
            ready = ready.order_by(func.min(Detection.received_at)).limit(self._per_tick)
        token = uuid.uuid4().hex[:16]
        async with self._sessions() as session, session.begin():
            postgres = session.get_bind().dialect.name == "postgresql"
            picked = (
                select(_table.c.id)
                .where(_table.c.pending)
                .where(_table.c.batch_id.is_(None))
                .where(_table.c.case_id.in_(ready))
                .order_by(_table.c.id)
                .limit(CLAIM_LIMIT)
            )
            if postgres:  # two flushers never claim the same row
                picked = picked.with_for_update(skip_locked=True)
            claim = (
                update(_table)
                .where(_table.c.id.in_(picked.scalar_subquery()))
                .values(batch_id=literal("coal:") + _table.c.case_id + literal(f":{token}"))
                .values(batch_at=now)
                .returning(*COLUMNS)
            )
            claimed: dict[str, list[Any]] = defaultdict(list)
            for row in await session.execute(claim):
                claimed[row.batch_id].append(row)
            # a dead flusher's claims: sent again under the same id (Temporal applies it once)
            stale = (
                select(*COLUMNS)
                .where(_table.c.pending)
                .where(_table.c.batch_id.is_not(None))
                .where(_table.c.batch_at < now - RECLAIM_AFTER)
                .order_by(_table.c.id)
                .limit(CLAIM_LIMIT)
            )
            if postgres:
                stale = stale.with_for_update(skip_locked=True)
            taken: dict[str, list[Any]] = defaultdict(list)
            for row in await session.execute(stale):
                taken[row.batch_id].append(row)
            if taken:
                await session.execute(
                    RETAKE,
                    [
                        {"case": rows[0].case_id, "bid": bid, "at": now}
                        for bid, rows in taken.items()
                    ],
                )
        for group in claimed.values():
            group.sort(key=lambda row: row.id)
        return dict(claimed) | dict(taken)

    def _recent(self) -> list[str]:
        """The cases this process sent an update less than ``seconds`` ago."""
        since = time.monotonic() - self._seconds
        self._sent = {case: at for case, at in self._sent.items() if at > since}
        return list(self._sent)

    async def _send(self, bid: str, rows: list[Any]) -> int:
        """Send one claimed batch and clear it (1 if its case took it)."""
        outcome = await self._deliver(bid, rows)
        await self._clear([(rows[0].case_id, bid, outcome)])
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
        self._sent[case_id] = time.monotonic()
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

    async def _clear(self, done: list[tuple[str, str, str]]) -> None:
        """Mark sent batches (case, batch id, outcome) no longer pending, in one transaction
        (one executemany)."""
        if not done:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                CLEAR, [{"case": case, "bid": bid, "out": out} for case, bid, out in done]
            )
