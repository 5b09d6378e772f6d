"""Single-flight, batched reads for the device path's short-lived caches (issue 18).

The API process caches each scene's registry row (``DeviceRuntime``) and each device's row
(``KeyCache``) for a few seconds. Read one at a time, every expiry is a pool checkout, a
``BEGIN``, a point read and a ``ROLLBACK``; and because a burst fills the caches together,
they expire together: hundreds of refreshes at once overflowed the pool (10 + 20), and
every overflow connection was opened for that moment and closed again (336 new connections
in a two-minute bench, each a TCP and TLS-probe handshake). Here:

* **single flight**: one read per key in flight; a lookup of a key already being read
  waits on that read instead of starting its own;
* **batched**: the keys asked for while a read runs go together in the next read (one
  ``WHERE key IN (..)`` query, at most ``max_batch`` keys), and only one read runs at a
  time per loader: refreshes hold one connection, never the pool;
* ``jittered(seconds)``: the caches' lifetimes, spread over +/- ``JITTER`` so that entries
  filled together do not all expire in the same instant.

A read that fails fails every lookup waiting on it (the post gets its 503 and is retried);
nothing is cached from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

JITTER = 0.25  # a cache entry lives its lifetime times 0.75 .. 1.25


def jittered(seconds: float) -> float:
    """A lifetime near ``seconds``: spread so that entries filled together expire apart."""
    return seconds * random.uniform(1 - JITTER, 1 + JITTER)  # not a secret: a spread


class BatchLoader(Generic[K, V]):
    """Loads keys through ``fetch`` (many keys -> the values found), one read at a time."""

    def __init__(
        self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]], max_batch: int = 500
    ) -> None:
        self._fetch, self._max_batch = fetch, max_batch
        self._waiting: dict[K, asyncio.Future[V | None]] = {}
        self._queued: list[K] = []
        self._task: asyncio.Task[None] | None = None
        self.reads = 0  # queries run (for tests and the bench)
        self.keys = 0  # keys they carried

    async def load(self, key: K) -> V | None:
        """The value of ``key`` (None if ``fetch`` found none), read at most once at a time."""
        future = self._waiting.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            # all waiters may be cancelled (a post's client went away): nobody to raise to
            future.add_done_callback(_consume)
            self._waiting[key] = future
            self._queued.append(key)
            if self._task is None:
                self._task = asyncio.create_task(self._run(), name="batch-loader")
        # shielded: a cancelled lookup does not cancel the read others wait on
        return await asyncio.shield(future)

    async def _run(self) -> None:
        """Read what is queued, batch after batch; started by the first lookup of a quiet
        loader (a task, so the lookups of the same tick of the event loop join its batch)."""
        try:
            while self._queued:
                batch = self._queued[: self._max_batch]
                del self._queued[: self._max_batch]
                self.reads += 1
                self.keys += len(batch)
                try:
                    found = await self._fetch(batch)
                except Exception as error:  # every lookup of this batch sees the failure
                    for key in batch:
                        self._settle(key, error=error)
                    continue
                for key in batch:
                    self._settle(key, value=found.get(key))
        finally:
            self._task = None
            for key in self._queued:  # cancelled (process stopping): nobody waits forever
                self._settle(key, error=RuntimeError("batch loader stopped"))
            self._queued.clear()

    def _settle(self, key: K, value: V | None = None, error: BaseException | None = None) -> None:
        future = self._waiting.pop(key, None)
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark an exception retrieved (it was raised to every waiter still there)."""
    if not future.cancelled():
        with contextlib.suppress(BaseException):
            future.exception()
