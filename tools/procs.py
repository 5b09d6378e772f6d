"""A small supervisor for the child processes of the local stack (``tools.devstack``).

Why not a shell script with ``&``: a shell cannot reliably stop every child when one of
them dies, nor stop them in order (API before worker before Temporal) on Ctrl-C. Here each
child runs in its own session, so a Ctrl-C in the terminal reaches only the supervisor,
which then stops the children one by one: SIGTERM, a grace period, then SIGKILL. On Linux
each child also gets SIGTERM if the supervisor itself is killed (``PR_SET_PDEATHSIG``), so
a ``kill -9`` never leaves a Temporal server holding port 7233.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

_COLOURS = ("36", "35", "33", "32", "34", "31")
_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel picks it; we release it at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class Interrupted(Exception):
    """A stop was requested, or a child died, while waiting for something."""


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


@dataclass
class Child:
    """One running child process and the task copying its output."""

    name: str
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None] | None = None
    waiter: asyncio.Task[int] | None = None
    expected_exit: bool = False
    quiet_on_stop: bool = False  # drop its warnings once we asked it to stop


@dataclass
class Supervisor:
    """Starts children, forwards their output, notices deaths, stops them all."""

    stop_timeout: float = 15.0
    children: list[Child] = field(default_factory=list)
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    child_failed: asyncio.Event = field(default_factory=asyncio.Event)
    failure: str | None = None
    _colour: bool = field(default_factory=lambda: sys.stdout.isatty())

    def say(self, name: str, line: str) -> None:
        """Print one line with a right-aligned name prefix (coloured on a terminal)."""
        prefix = f"{name:>9} |"
        if self._colour:
            colour = _COLOURS[sum(map(ord, name)) % len(_COLOURS)]
            prefix = f"\033[{colour}m{prefix}\033[0m"
        sys.stdout.write(f"{prefix} {line}\n")
        sys.stdout.flush()

    async def spawn(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        cwd: str,
        *,
        quiet_on_stop: bool = False,
    ) -> Child:
        """Start ``argv`` in its own session, stdout and stderr merged and forwarded.

        ``quiet_on_stop`` hides the child's WARN lines once it is being stopped: the
        Temporal dev server logs a screenful of "connection refused" while shutting down.
        """
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_parent_death_signal(),
            limit=1 << 20,
        )
        assert process.stdout is not None
        child = Child(name, process, quiet_on_stop=quiet_on_stop)
        child.pump = asyncio.create_task(self._pump(child, process.stdout))
        child.waiter = asyncio.create_task(self._watch(child))
        self.children.append(child)
        self.say("devstack", f"started {name} (pid {process.pid}): {' '.join(argv)}")
        return child

    async def _pump(self, child: Child, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the buffer: print what is there
                raw = await stream.read(1 << 20)
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if child.expected_exit and child.quiet_on_stop and "level=WARN" in line:
                continue
            self.say(child.name, line)

    async def _watch(self, child: Child) -> int:
        code = await child.process.wait()
        if child.pump is not None:
            await child.pump
        if not child.expected_exit and self.failure is None:
            self.failure = f"{child.name} exited unexpectedly with code {code}"
            self.say("devstack", self.failure)
            self.child_failed.set()
        return code

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` unless a stop is requested or a child dies first."""
        work = asyncio.ensure_future(awaitable)
        stop = asyncio.create_task(self.stop_requested.wait())
        fail = asyncio.create_task(self.child_failed.wait())
        try:
            await asyncio.wait({work, stop, fail}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            fail.cancel()
        if work.done():
            return work.result()
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        raise Interrupted()

    def on_signal(self) -> None:
        """First Ctrl-C: stop cleanly. Second one: the user is in a hurry, kill now."""
        if self.stop_requested.is_set():
            self.say("devstack", "second interrupt: killing every child now")
            for child in self.children:
                if child.process.returncode is None:
                    self._signal(child.process, signal.SIGKILL)
        self.stop_requested.set()

    async def run_until_stopped(self) -> None:
        """Block until Ctrl-C / SIGTERM or until a child dies."""
        with contextlib.suppress(Interrupted):
            await self.guard(asyncio.Event().wait())

    async def stop_all(self) -> None:
        """Stop children in reverse start order: SIGTERM, wait, then SIGKILL."""
        for child in self.children:
            child.expected_exit = True
        for child in reversed(self.children):
            await self._stop(child)

    async def _stop(self, child: Child) -> None:
        process = child.process
        if process.returncode is None:
            self.say("devstack", f"stopping {child.name} (pid {process.pid})")
            self._signal(process, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self.stop_timeout)
            except TimeoutError:
                self.say("devstack", f"{child.name} did not stop in time: killing it")
                self._signal(process, signal.SIGKILL)
                await process.wait()
        if child.waiter is not None:
            await child.waiter

    @staticmethod
    def _signal(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
        """Signal the child's whole process group (it leads its own session)."""
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
