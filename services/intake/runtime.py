"""What the device intake holds for an API process's lifetime, and its back-pressure.

Built once at start-up (``api.main``): the key cache, the group-commit writer of
``detection`` rows, the coalescing flusher and the projection-status cache. ``admit`` is
the back-pressure: a post is refused at once with 503 and ``Retry-After`` (the device
sends it again, with the same event id, later) when the process is queueing past
``device_max_queue_ms``: the event loop running late by that much, tick after tick (posts
wait that long before their work even starts: ``LoopLag``) with half of
``device_max_in_flight`` posts in progress (a backlog of posts, not a lag of some other
cause, which refusing posts would not cure); and past
``device_max_in_flight`` posts in progress, or more rows waiting than the writer commits in
a few batches (a database that does not keep up: the posts wait on their commit, not on
the loop). Not the oldest row's wait for its commit: one slow commit makes every row
behind it wait, and refusing newcomers does not make that commit any faster. So an
overload shows as quick refusals while the posts accepted keep their latency, never as
posts that wait into the device's timeout.
Nothing refused was recorded, and nothing accepted is dropped: a post is answered 202 only
after its row is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlmodel import col
from temporalio.client import Client

from constants import case_workflow_id
from schemas.cases.tables import CaseRecord
from schemas.intake.tables import IntakeMerge
from services.intake.batch_loader import BatchLoader, jittered
from services.intake.coalesce import ENDED, Coalescer
from services.intake.database import DeviceDatabase
from services.intake.detection_writer import MAX_BATCH, DetectionWriter
from services.intake.device_keys import KeyCache
from services.intake.merge import LAST_SEEN_STEP, MergeKey, MergeRegistry, Slot, case_id_for
from services.platform.db import SessionFactory, utc
from services.temporal_gateway import workflow_running
from settings import Settings

log = logging.getLogger(__name__)
RETRY_AFTER_BUSY = 1  # seconds: an overload passes in a second or two
# How long a process trusts its copy of a scene's registry row on the coalescing path. Only
# a hint: a generation another process moved on meanwhile (its case ended) means at most
# this long of detections recorded against the ended case (``outcome`` ``recorded``).
SLOT_SECONDS = 3.0  # on average: each entry's lifetime is jittered (``batch_loader``)
MAX_SCENES = 100_000
SEEN_EVERY = 1.0  # seconds between two writes of the scenes' last_at bumps


class Busy(Exception):
    """Past this process's capacity: 503 with ``Retry-After``, nothing recorded."""


class LoopLag:
    """How late this process's event loop runs, in seconds, *sustained*: a tick every
    ``TICK`` seconds measures how much later than asked it woke, and the figure is the
    smaller of the last two ticks. A backlog of posts keeps every tick late; one long loop
    iteration (a burst arriving at once, a collection of the garbage) makes one tick late,
    which is not yet a reason to refuse anybody."""

    TICK = 0.01

    def __init__(self) -> None:
        self.lag = 0.0
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="device-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            asked = time.monotonic() + self.TICK
            await asyncio.sleep(self.TICK)
            late = max(0.0, time.monotonic() - asked)
            self.lag, self._last = min(late, self._last), late


class DeviceRuntime:
    """Per-process state of the device intake (caches, writer, flusher, admission)."""

    def __init__(
        self, settings: Settings, client: Client, database: SessionFactory | DeviceDatabase
    ) -> None:
        if not isinstance(database, DeviceDatabase):
            database = DeviceDatabase.shared(database)
        self.database = database
        sessions = database.sessions
        pepper = settings.device_key_pepper.get_secret_value()
        self.keys = KeyCache(
            pepper, settings.device_auth_cache_seconds, settings.device_auth_cache_size
        )
        self.writer = DetectionWriter(database.autocommit)
        self.coalesce = settings.intake_coalesce
        self.coalescer = Coalescer(
            client,
            sessions,
            settings.intake_coalesce_seconds,
            settings.intake_coalesce_batch,
            timedelta(seconds=settings.intake_coalesce_max_wait_seconds),
        )
        self.max_in_flight = settings.device_max_in_flight
        self.max_queue = settings.device_max_queue_ms / 1000
        # a late loop with fewer posts than this in progress is not a backlog of posts (a
        # burst being parsed, another process's CPU, a collection): refusing them cures nothing
        self.backlog = max(1, self.max_in_flight // 2)
        self.loop = LoopLag()
        self.max_pending = 4 * MAX_BATCH
        self.in_flight = 0
        self.refused = 0
        self._scenes: dict[str, tuple[Slot, str, float]] = {}
        columns = (IntakeMerge.merge_key, IntakeMerge.generation, IntakeMerge.opener)
        self._slot_query = (
            select(*(col(c) for c in columns))
            .add_columns(col(IntakeMerge.last_at), col(IntakeMerge.recovered_at))
            .add_columns(col(IntakeMerge.full))
            .where(col(IntakeMerge.merge_key).in_(bindparam("k", expanding=True)))
        )
        self._status_query = select(col(CaseRecord.case_id), col(CaseRecord.status)).where(
            col(CaseRecord.case_id).in_(bindparam("c", expanding=True))
        )
        self.scene_loader: BatchLoader[MergeKey, tuple[Slot, str]] = BatchLoader(self._read_scenes)
        self._registry = MergeRegistry(database.sessions)
        self._client = client
        self._seen: dict[str, tuple[int, datetime]] = {}  # scene -> (generation, last seen)
        self._seen_wake = asyncio.Event()
        self._seen_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.writer.start()
        self.loop.start()
        self._seen_task = asyncio.create_task(self._write_seen(), name="device-scenes-seen")
        if self.coalesce:
            self.coalescer.start()

    async def stop(self) -> None:
        if self._seen_task is not None:
            self._seen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._seen_task
            self._seen_task = None
        await self._flush_seen()
        await self.loop.stop()
        await self.writer.stop()
        await self.coalescer.stop()
        await self.database.close()

    @contextmanager
    def admit(self) -> Iterator[None]:
        """One post in progress, or ``Busy`` if this process is past its capacity."""
        if (
            (self.loop.lag > self.max_queue and self.in_flight + 1 >= self.backlog)
            or self.in_flight >= self.max_in_flight
            or self.writer.pending >= self.max_pending
        ):
            self.refused += 1
            raise Busy
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def coalescible(self, registry: MergeRegistry, key: MergeKey, at: datetime) -> str | None:
        """The open case a detection at ``at`` joins without a Temporal call, or None when
        it must take the per-detection path: no scene yet (it opens the case), the burst
        went quiet, the case is full, or neither projected as open nor running (ended, or
        never started).

        A sensor's alarm reads its registry row afresh (a recovery in another process moves
        it, and a few alarms a minute per sensor cost nothing to read), and joins only a
        case still alarming: an alarm after a recovery takes the per-report path, which
        notes that the recovery no longer holds (``MergeRegistry.attached``)."""
        if not self.coalesce:
            return None
        if key.rule == "alarm":
            self.forget(key)
        scene = await self._scene(key)
        if scene is None:
            return None
        slot, case_id = scene
        if (
            slot.full
            or registry.stale(key.rule, slot, at)
            or case_id in self.coalescer.full_cases
            or slot.recovered_at is not None
        ):
            self.forget(key)
            return None
        if at - slot.last_at >= LAST_SEEN_STEP:  # keeps last_at fresh (every 30 s)
            self._seen[key.digest] = (slot.generation, at)
            self._seen_wake.set()
            entry = self._scenes.get(key.digest)
            if entry is not None:
                self._scenes[key.digest] = (replace(slot, last_at=at), case_id, entry[2])
        return case_id

    async def _write_seen(self) -> None:
        """The scenes' ``last_at`` bumps, written behind the posts, all waiting in one
        statement. Scenes opened together come due together every 30 s, and each bump was
        its own transaction in its post's path: 200 at once held every post behind them
        (the bench's p99 at 250/s, 20-30 s after a burst of new scenes). ``last_at`` only
        says when a quiet scene's window ends (minutes); a bump lost with the process
        moves that end by one step at most (``LAST_SEEN_STEP``)."""
        while True:
            await self._seen_wake.wait()
            self._seen_wake.clear()
            await self._flush_seen()
            await asyncio.sleep(SEEN_EVERY)

    async def _flush_seen(self) -> None:
        bumps, self._seen = self._seen, {}
        try:
            await self._registry.seen([(digest, gen, at) for digest, (gen, at) in bumps.items()])
        except Exception:  # the next detection of each scene asks again
            log.warning("writing %d scenes' last_at failed", len(bumps), exc_info=True)

    def forget(self, key: MergeKey) -> None:
        self._scenes.pop(key.digest, None)

    async def _scene(self, key: MergeKey) -> tuple[Slot, str] | None:
        """The scene's registry row and its case, if that case is projected as open: read
        at most every ~``SLOT_SECONDS`` per process (jittered), single-flight and batched
        with the other scenes due (``BatchLoader``: one query for their rows, one for their
        cases' status)."""
        now = time.monotonic()
        entry = self._scenes.get(key.digest)
        if entry is not None and entry[2] > now:
            return entry[0], entry[1]
        return await self.scene_loader.load(key)

    async def _started(self, case_ids: list[str]) -> set[str]:
        """Of cases not projected yet, those whose workflow runs: started, their first
        workflow task not run yet (a worker behind, or none). Their scenes' later reports
        are recorded and coalesced too, instead of each waiting on that task; a case that
        was never started (its opener died between the registry row and the start) is not
        among them, so its next report starts it by update-with-start."""
        if not case_ids:
            return set()
        running = await asyncio.gather(
            *(workflow_running(self._client, case_workflow_id(c)) for c in case_ids),
            return_exceptions=True,
        )
        return {c for c, up in zip(case_ids, running, strict=True) if up is True}

    async def _read_scenes(self, keys: list[MergeKey]) -> dict[MergeKey, tuple[Slot, str]]:
        """Many scenes' rows and their cases' status, in two queries on one connection;
        only scenes whose case is projected as open, or started and not projected yet
        (``_started``), are found (and cached)."""
        by_digest = {key.digest: key for key in keys}
        async with self.database.autocommit() as session:
            rows = (await session.execute(self._slot_query, {"k": list(by_digest)})).all()
            cases = {
                row.merge_key: case_id_for(by_digest[row.merge_key], row.generation) for row in rows
            }
            statuses = dict(
                (await session.execute(self._status_query, {"c": list(cases.values())})).all()
                if cases
                else []
            )
        started = await self._started([c for c in cases.values() if c not in statuses])
        found: dict[MergeKey, tuple[Slot, str]] = {}
        if len(self._scenes) + len(rows) >= MAX_SCENES:
            self._scenes.clear()
        until = time.monotonic()
        for row in rows:
            case_id = cases[row.merge_key]
            status = statuses.get(case_id)
            if (status is None and case_id not in started) or status in ENDED:
                continue
            key = by_digest[row.merge_key]
            last_at = utc(row.last_at)
            assert last_at is not None  # the column is not nullable
            slot = Slot(row.generation, row.opener, last_at, utc(row.recovered_at), row.full)
            self._scenes[key.digest] = (slot, case_id, until + jittered(SLOT_SECONDS))
            found[key] = (slot, case_id)
        return found
