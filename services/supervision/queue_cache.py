"""A few seconds' memory of the center queue's bucket counts, per (scope, filters).

Every supervisor reloads the queue all day, and most loads ask the same few questions
(the whole town, or one scope, mostly unfiltered). The seven counts are the request's
heaviest database work (EXPLAIN ANALYZE on 20,000 open cases: ~12 ms when the backend gets
a CPU, many times that when it does not), and a count that is seconds old is fine for a
queue: the page says when its counts were taken. The list of the chosen bucket is still
read on every load, so a case acted on leaves it at once.

Per API process, in memory, bounded: no shared state to keep consistent. Loads that miss
together (twenty supervisors opening the page at nine) share one count per key instead of
each running its own (``shared``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

# (scope, filters) pairs kept; a town has a few dozen scopes, times a few filters each
MAX_ENTRIES = 1024


class CountsCache:
    """Counts and when they were taken, kept for ``seconds`` (0 turns the cache off)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._entries: OrderedDict[Any, tuple[float, dict[str, int], datetime]] = OrderedDict()
        self._running: dict[Any, asyncio.Future[tuple[dict[str, int], datetime]]] = {}

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
        running = self._running.get(key)
        if running is not None:
            try:
                counts, as_of = await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this load itself was cancelled
                counts, as_of = await count()  # the load that counted went away: count here
            return dict(counts), as_of
        future: asyncio.Future[tuple[dict[str, int], datetime]] = (
            asyncio.get_running_loop().create_future()
        )
        self._running[key] = future
        try:
            counts, as_of = await count()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._running[key]
        future.set_result((counts, as_of))
        self.put(key, counts, as_of)
        return dict(counts), as_of
