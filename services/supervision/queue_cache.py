"""A few seconds' memory of the center queue's bucket counts, per (scope, filters), and one
read for identical reads that arrive together.

Every supervisor reloads the queue all day, and most loads ask the same few questions
(the whole town, or one scope, mostly unfiltered). The seven counts are the request's
heaviest database work (EXPLAIN ANALYZE on 20,000 open cases: ~12 ms when the backend gets
a CPU, many times that when it does not), and a count that is seconds old is fine for a
queue: the page says when its counts were taken. The list of the chosen bucket is still
read on every load, so a case acted on leaves it at once.

Per API process, in memory, bounded: no shared state to keep consistent. Loads that miss
together (twenty supervisors opening the page at nine) share one count per key instead of
each running its own (``CountsCache.shared``), and loads that ask for the same list while
it is being read share that read (``InFlight``): nothing is kept once it answers, so a
list is never older than the read a load found running when it arrived.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import Any, Generic, TypeVar

# (scope, filters) pairs kept; a town has a few dozen scopes, times a few filters each
MAX_ENTRIES = 1024
V = TypeVar("V")


class InFlight(Generic[V]):
    """The reads running now, by key: a caller asking for a key being read waits for that
    read's answer (or its failure) instead of running its own. Nothing is remembered."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[V]] = {}

    async def shared(self, key: Hashable, read: Callable[[], Awaitable[V]]) -> V:
        """``read()``'s answer, run once for all the callers that ask while it runs."""
        running = self._running.get(key)
        if running is not None:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this caller itself was cancelled
                return await read()  # the caller that read went away: read here
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await read()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._running[key]
        future.set_result(value)
        return value


class CountsCache:
    """Counts and when they were taken, kept for ``seconds`` (0 turns the cache off)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._entries: OrderedDict[Any, tuple[float, dict[str, int], datetime]] = OrderedDict()
        self._counting: InFlight[tuple[dict[str, int], datetime]] = InFlight()

    def get(self, key: Any) -> tuple[dict[str, int], datetime] | None:
        """The counts under ``key`` and their time, if taken less than ``seconds`` ago."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        taken, counts, as_of = entry
        if self._clock() - taken >= self.seconds:
            del self._entries[key]
            return None
        return dict(counts), as_of

    def put(self, key: Any, counts: dict[str, int], as_of: datetime) -> None:
        """Keep ``counts`` (the oldest entry goes when the cache is full)."""
        if self.seconds <= 0:
            return
        self._entries[key] = (self._clock(), dict(counts), as_of)
        self._entries.move_to_end(key)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    async def shared(
        self, key: Any, count: Callable[[], Awaitable[tuple[dict[str, int], datetime]]]
    ) -> tuple[dict[str, int], datetime]:
        """The cached counts of ``key``, or ``count()``'s, run once for all the loads that
        ask while it runs (a failure reaches each of them, and nothing is kept)."""
        kept = self.get(key)
        if kept is not None:
            return kept

        async def count_and_keep() -> tuple[dict[str, int], datetime]:
            counts, as_of = await count()
            self.put(key, counts, as_of)
            return counts, as_of

        counts, as_of = await self._counting.shared(key, count_and_keep)
        return dict(counts), as_of
