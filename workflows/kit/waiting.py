"""Waiting against deadlines that actions may move: one home for every workflow's timers.

``Deadline`` is a stage deadline with a version that moves when someone extends it;
``wait_with_warning`` (cases) waits for a condition against one, with a warning at a
fraction of its span; ``Waiter.wait_until`` (inspections, hazards) waits against a deadline
read through a callable, with one-shot reminders at fixed times. Both only wait on
conditions with timeouts, so each workflow issues exactly the timers it issued before they
moved here; they stay two because their timer sequences differ (a warning that follows a
moving deadline vs. reminders fixed at the start), and merging them would change commands.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from temporalio import workflow


def fixed(at: datetime) -> Callable[[], datetime]:
    """A deadline that does not move."""
    return lambda: at


class Waiter:
    """Waits against a movable deadline: actions bump ``version`` when they move it."""

    def __init__(self) -> None:
        self.version = 0

    def moved(self) -> None:
        self.version += 1

    async def wait_until(
        self,
        done: Callable[[], bool],
        deadline: Callable[[], datetime | None],
        reminders: Sequence[tuple[datetime, Callable[[], None]]] = (),
    ) -> bool:
        """Wait for ``done``; False once ``deadline()`` passes first.

        Reminders run once each when their time comes (in time order); a reminder whose
        time has already passed runs at once.
        """
        pending = sorted(reminders, key=lambda r: r[0])
        while not done():
            now = workflow.now()
            while pending and pending[0][0] <= now:
                pending.pop(0)[1]()
            due = deadline()
            if due is not None and now >= due:
                return False
            targets = [t for t in (pending[0][0] if pending else None, due) if t is not None]
            version = self.version

            def woken(version: int = version) -> bool:
                return done() or self.version != version

            if not targets:
                await workflow.wait_condition(woken)
                continue
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(woken, timeout=min(targets) - now)
        return True


class Clock(Protocol):
    """How a deadline counts time when not on the wall clock (working time, ``worktime-v1``)."""

    def add(self, start: datetime, span: timedelta) -> datetime: ...

    def warn_at(self, start: datetime, due: datetime, fraction: float) -> datetime: ...


@dataclass
class Deadline:
    """A stage deadline that supervisors and departments may move (``version`` tells).

    With a ``clock`` (and the ``start`` it counts from) extensions and the warning count
    that clock's time; without, wall-clock time as before."""

    at: datetime
    span: timedelta
    version: int = 0
    warned: bool = False
    start: datetime | None = None
    clock: Clock | None = None
    paused: bool = False  # suspended (缓办): the clock stops until it resumes
    warn_fixed: datetime | None = None  # set when a resume moved the warning

    def extend(self, extra: timedelta) -> None:
        self.at = self.clock.add(self.at, extra) if self.clock is not None else self.at + extra
        self.version += 1

    def warn_at(self, fraction: float) -> datetime:
        if self.warn_fixed is not None:
            return self.warn_fixed
        if self.clock is not None and self.start is not None:
            return self.clock.warn_at(self.start, self.at, fraction)
        return self.at - self.span * (1 - fraction)


def working_span(deadline: Deadline | None) -> timedelta | None:
    """The limit of a deadline that counts working time (for "8 working hours"), else None."""
    return deadline.span if deadline is not None and deadline.clock is not None else None


async def wait_with_warning(
    finished: Callable[[], bool],
    deadline: Deadline | None,
    warn_fraction: float,
    on_warn: Callable[[], Awaitable[None]] | None,
    rest: Callable[[Callable[[], bool], timedelta | None], Awaitable[None]],
) -> bool:
    """Wait until ``finished``; False once the (movable) deadline passes first.

    ``on_warn`` runs once, at ``warn_fraction`` of the deadline's span (recomputed when the
    deadline moves); ``rest(condition, within)`` is how the caller waits (a case marks
    itself at rest meanwhile, so its projection catches up).
    """
    while not finished():
        if deadline is None:
            await rest(finished, None)
            break
        if deadline.paused:  # only ever set by a suspension, so older runs never get here
            paused = deadline.version

            def resumed(deadline: Deadline = deadline, version: int = paused) -> bool:
                return finished() or deadline.version != version

            await rest(resumed, None)
            continue
        now = workflow.now()
        if now >= deadline.at:
            return False
        target = deadline.at
        warn_at = deadline.warn_at(warn_fraction)
        if on_warn is not None and not deadline.warned:
            if warn_at <= now:
                deadline.warned = True
                await on_warn()
                continue
            target = warn_at
        version = deadline.version

        def moved_or_finished(deadline: Deadline = deadline, version: int = version) -> bool:
            return finished() or deadline.version != version

        try:
            await rest(moved_or_finished, target - now)
        except TimeoutError:
            if on_warn is not None and target == warn_at and deadline.version == version:
                deadline.warned = True
                await on_warn()
    return True
