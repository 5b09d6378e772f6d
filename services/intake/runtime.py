"""What the device intake holds for an API process's lifetime, and its back-pressure.

Built once at start-up (``api.main``): the key cache, the group-commit writer of
``detection`` rows, the coalescing flusher and the projection-status cache. ``admit`` is
the back-pressure: past ``device_max_in_flight`` posts in progress, or with more rows
waiting for the writer than it commits in a few batches, a post is refused at once with
503 and ``Retry-After`` (the device sends it again, with the same event id, later), so
an overload shows as quick refusals, never as posts that wait into the device's timeout.
Nothing refused was recorded, and nothing accepted is dropped: a post is answered 202 only
after its row is committed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

from temporalio.client import Client

from services.intake.coalesce import CaseStatusCache, Coalescer
from services.intake.detection_writer import MAX_BATCH, DetectionWriter
from services.intake.device_keys import KeyCache
from services.intake.merge import LAST_SEEN_STEP, MergeKey, MergeRegistry, Slot, case_id_for
from services.platform.db import SessionFactory
from settings import Settings

RETRY_AFTER_BUSY = 1  # seconds: an overload passes in a second or two
# How long a process trusts its copy of a scene's registry row on the coalescing path. Only
# a hint: a generation another process moved on meanwhile (its case ended) means at most
# this long of detections recorded against the ended case (``outcome`` ``recorded``).
SLOT_SECONDS = 3.0
MAX_SLOTS = 100_000


class Busy(Exception):
    """Past this process's capacity: 503 with ``Retry-After``, nothing recorded."""


class DeviceRuntime:
    """Per-process state of the device intake (caches, writer, flusher, admission)."""

    def __init__(self, settings: Settings, client: Client, sessions: SessionFactory) -> None:
        pepper = settings.device_key_pepper.get_secret_value()
        self.keys = KeyCache(
            pepper, settings.device_auth_cache_seconds, settings.device_auth_cache_size
        )
        self.writer = DetectionWriter(sessions)
        self.coalesce = settings.intake_coalesce
        self.coalescer = Coalescer(client, sessions, settings.intake_coalesce_seconds)
        self.statuses = CaseStatusCache(sessions, SLOT_SECONDS)
        self.max_in_flight = settings.device_max_in_flight
        self.max_pending = 4 * MAX_BATCH
        self.in_flight = 0
        self.refused = 0
        self._slots: dict[str, tuple[Slot, float]] = {}

    def start(self) -> None:
        self.writer.start()
        if self.coalesce:
            self.coalescer.start()

    async def stop(self) -> None:
        await self.writer.stop()
        await self.coalescer.stop()

    @contextmanager
    def admit(self) -> Iterator[None]:
        """One post in progress, or ``Busy`` if this process is past its capacity."""
        if self.in_flight >= self.max_in_flight or self.writer.pending >= self.max_pending:
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
        went quiet, the case is full, or not projected as open (just opened, or ended)."""
        if not self.coalesce:
            return None
        slot = await self._slot(registry, key)
        if slot is None or slot.full or registry.stale(key.rule, slot, at):
            self._slots.pop(key.digest, None)
            return None
        case_id = case_id_for(key, slot.generation)
        if case_id in self.coalescer.full_cases or not await self.statuses.open(case_id):
            self._slots.pop(key.digest, None)
            return None
        if at - slot.last_at >= LAST_SEEN_STEP:
            await registry.attached(key, slot, at, 0)  # keeps last_at fresh (every 30 s)
            entry = self._slots.get(key.digest)
            if entry is not None:
                self._slots[key.digest] = (replace(slot, last_at=at), entry[1])
        return case_id

    async def _slot(self, registry: MergeRegistry, key: MergeKey) -> Slot | None:
        """The scene's registry row, read at most every ``SLOT_SECONDS`` per process."""
        now = time.monotonic()
        entry = self._slots.get(key.digest)
        if entry is not None and entry[1] > now:
            return entry[0]
        slot = await registry.get(key)
        if slot is not None:
            if len(self._slots) >= MAX_SLOTS:
                self._slots.clear()
            self._slots[key.digest] = (slot, now + SLOT_SECONDS)
        return slot
