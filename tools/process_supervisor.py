"""A small supervisor for the child processes of the local stack (``tools.devstack``).

Why not a shell script with ``&``: a shell cannot reliably stop every child when one of
them dies, nor stop them in order (API before worker before Temporal) on Ctrl-C. Here each
child runs in its own session, so a Ctrl-C in the terminal reaches only the supervisor,
which then stops the children one by one: SIGTERM, a grace period, then SIGKILL. On Linux
each child also gets SIGTERM if the supervisor itself is killed (``PR_SET_PDEATHSIG``), so
a ``kill -9`` never leaves a Temporal server holding port 7233.

A child that dies on its own is restarted, as a process supervisor would:
after 1 s, then 2 s, 4 s... up to ``max_delay`` while it keeps dying, back to 1 s once a
run lasted ``stable_after`` seconds; each restart is logged. Only a child that dies
``max_crashes`` times within ``window`` seconds (it keeps crashing: a broken build, a port
someone else took) stops the whole stack, with exit code 1; Ctrl-C or SIGTERM stops it
cleanly. Workers and API processes are stateless (Temporal and the database keep
everything), so a restart loses nothing.
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


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart a child that died on its own, and when to give up on it."""

    first_delay: float = 1.0  # seconds before the first restart
    max_delay: float = 30.0  # the backoff doubles up to this
    stable_after: float = 60.0  # a run at least this long resets the backoff
    max_crashes: int = 5  # this many deaths ...
    window: float = 300.0  # ... within this many seconds: give up, stop everything

    def delay(self, streak: int) -> float:
        """Seconds to wait before restart number ``streak`` of a crash streak (1-based)."""
        return float(min(self.first_delay * 2 ** max(streak - 1, 0), self.max_delay))


NO_RESTART = RestartPolicy(max_crashes=1)


@dataclass
class Child:
    """One supervised child: how to start it, its current process, its crash record."""

    name: str
    process: asyncio.subprocess.Process
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "."
    pump: asyncio.Task[None] | None = None
    waiter: asyncio.Task[int] | None = None
    expected_exit: bool = False
    quiet_on_stop: bool = False  # drop its warnings once we asked it to stop
    started_at: float = 0.0  # loop time of the current process's start
    streak: int = 0  # deaths since the last stable run
    crashes: list[float] = field(default_factory=list)  # loop times of recent deaths
    restarts: int = 0


@dataclass
class Supervisor:
    """Starts children, forwards their output, restarts the dead ones, stops them all."""

    stop_timeout: float = 15.0
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    children: list[Child] = field(default_factory=list)
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    child_failed: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
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
        """Start ``argv`` in its own session, stdout and stderr merged and forwarded; it
        is restarted by ``policy`` whenever it dies without being asked to.

        ``quiet_on_stop`` hides the child's WARN lines once it is being stopped: the
        Temporal dev server logs a screenful of "connection refused" while shutting down.
        """
        process = await self._launch(argv, env, cwd)
        child = Child(name, process, argv, env, cwd, quiet_on_stop=quiet_on_stop)
        self._attach(child, process)
        child.waiter = asyncio.create_task(self._keep(child))
        self.children.append(child)
        self.say("devstack", f"started {name} (pid {process.pid}): {' '.join(argv)}")
        return child

    @staticmethod
    async def _launch(argv: list[str], env: dict[str, str], cwd: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
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

    def _attach(self, child: Child, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        child.process = process
        child.started_at = asyncio.get_running_loop().time()
        child.pump = asyncio.create_task(self._pump(child, process.stdout))

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

    async def _keep(self, child: Child) -> int:
        """Wait for the child to die; restart it with backoff, or give up (see module)."""
        while True:
            code = await child.process.wait()
            if child.pump is not None:
                await child.pump
            if child.expected_exit:
                return code
            delay = self._record_crash(child, code)
            if delay is None:
                self.child_failed.set()
                return code
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if child.expected_exit or self.stopping.is_set():
                return code
            try:
                process = await self._launch(child.argv, child.env, child.cwd)
            except OSError as error:  # the program itself is gone: nothing to retry
                self.failure = self.failure or f"cannot restart {child.name}: {error}"
                self.say("devstack", self.failure)
                self.child_failed.set()
                return code
            self._attach(child, process)
            child.restarts += 1
            self.say("devstack", f"restarted {child.name} (pid {child.process.pid})")
            if child.expected_exit:  # stop_all began while it was starting: stop it too
                self._signal(child.process, signal.SIGTERM)

    def _record_crash(self, child: Child, code: int) -> float | None:
        """Log one unexpected exit; the delay before the restart, or None to give up."""
        now = asyncio.get_running_loop().time()
        policy = self.policy
        ran = now - child.started_at
        child.streak = 1 if ran >= policy.stable_after else child.streak + 1
        child.crashes = [t for t in child.crashes if now - t < policy.window] + [now]
        what = f"{child.name} exited unexpectedly with code {code} after {ran:.1f} s"
        if len(child.crashes) >= policy.max_crashes:
            if policy.max_crashes == 1:
                self.failure = self.failure or f"{child.name} exited unexpectedly with code {code}"
            else:
                self.failure = self.failure or (
                    f"{child.name} keeps crashing: {len(child.crashes)} exits within "
                    f"{policy.window:g} s (last code {code}); giving up"
                )
            self.say("devstack", f"{what}; {self.failure}")
            return None
        delay = policy.delay(child.streak)
        budget = f"exit {len(child.crashes)} of {policy.max_crashes} within {policy.window:g} s"
        self.say("devstack", f"{what}; restarting in {delay:g} s ({budget})")
        return delay

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
        """Block until Ctrl-C / SIGTERM or until a child keeps crashing."""
        with contextlib.suppress(Interrupted):
            await self.guard(asyncio.Event().wait())

    async def stop_all(self) -> None:
        """Stop children in reverse start order: SIGTERM, wait, then SIGKILL."""
        self.stopping.set()
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
