"""Coalescing projection writes: ``touch`` marks a change, one write covers many.

While one write runs, later changes fold into the next one, so a burst of item results
costs one database write, not one per item. Writes are local activities
(``workflows.kit.calls.call_local``) with the workflow's own retry threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

from workflows.kit.calls import call_local
from workflows.kit.lanes import Lanes

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel


class Projector:
    """Coalescing projection writes: ``touch`` marks a change, one write covers many."""

    def __init__(
        self,
        activity: str,
        build: Callable[[], BaseModel],
        *,
        local_retry_threshold: timedelta,
    ) -> None:
        self._activity = activity
        self._build = build
        self._threshold = local_retry_threshold
        self._version = 0
        self._written = 0
        self._lanes: Lanes | None = None

    def start(self, lanes: Lanes) -> None:
        """Begin writing in the background (from ``run``: handlers may ``touch`` before)."""
        self._lanes = lanes
        lanes.spawn(self._loop())

    def touch(self) -> None:
        self._version += 1

    async def _loop(self) -> None:
        lanes = self._lanes
        assert lanes is not None
        while True:
            await workflow.wait_condition(lambda: self._written < self._version or lanes.finished)
            if self._written >= self._version:
                return
            target = self._version
            await call_local(self._activity, self._build(), local_retry_threshold=self._threshold)
            self._written = target
