"""Ordered lanes of activity calls, each drained by its own background coroutine.

One lane per recipient: a gateway that is down delays only the messages for that
recipient, never the stage timers nor anybody else's messages. ``drain`` lets everything
queued go out before the workflow ends (or continues as new).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

from workflows.kit.calls import call

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel


class Lanes:
    """Ordered per-lane queues of activity calls, drained in the background."""

    def __init__(self) -> None:
        self._queues: dict[str, list[tuple[str, BaseModel]]] = {}
        self._done: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._finished = False

    def put(self, lane: str, activity: str, arg: BaseModel) -> None:
        if lane not in self._queues:
            self._queues[lane] = []
            self._done[lane] = 0
            self._tasks.append(asyncio.create_task(self._drain(lane)))
        self._queues[lane].append((activity, arg))

    @property
    def finished(self) -> bool:
        return self._finished

    def spawn(self, coro: Any) -> None:
        """Run another background coroutine that ``drain`` waits for."""
        self._tasks.append(asyncio.create_task(coro))

    async def _drain(self, lane: str) -> None:
        queue = self._queues[lane]
        while True:
            await workflow.wait_condition(lambda: self._done[lane] < len(queue) or self._finished)
            if self._done[lane] >= len(queue):
                return
            name, arg = queue[self._done[lane]]
            await call(name, arg)
            self._done[lane] += 1

    async def drain(self) -> None:
        """Let everything queued go out before the workflow ends (or continues as new)."""
        self._finished = True
        while True:
            tasks = list(self._tasks)
            await asyncio.gather(*tasks)
            if len(tasks) == len(self._tasks):
                return
