"""Real child processes for the fault tests: the Temporal dev server and worker processes.

Each child runs in its own session (so a signal reaches its whole process group and never
the test runner), writes its output to a log file (a pipe nobody reads would fill and stall
it), and gets SIGTERM from Linux if the test runner itself dies (``PR_SET_PDEATHSIG``), so an
interrupted run never leaves a dev server holding a port. ``kill`` is synchronous and safe
to call from a FakeGateway callback, which is how a test kills a worker at an exact moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from constants import SEARCH_ATTRIBUTES
from tools.devstack import SEARCH_ATTRIBUTE_TYPES, check_search_attributes
from tools.process_supervisor import _parent_death_signal, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv's bin: temporal, python


class Proc:
    """One child process, its log file, and the ways to end it."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as sink:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(ROOT),
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """Signal the child's whole process group; nothing if it is already gone."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL now, without waiting: callable from a synchronous callback."""
        self.signal(signal.SIGKILL)

    async def wait_exit(self, within: float) -> int:
        deadline = time.monotonic() + within
        while (code := self.popen.poll()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} (pid {self.pid}) still running")
            await asyncio.sleep(0.05)
        return code

    async def stop(self, grace: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it is still there after ``grace`` seconds."""
        if self.alive:
            self.signal(signal.SIGTERM)
            try:
                return await self.wait_exit(grace)
            except TimeoutError:
                self.kill()
        return await self.wait_exit(10.0)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 30, width: int = 400) -> str:
        return "\n".join(line[:width] for line in self.text().splitlines()[-lines:])

    async def wait_for_output(self, needle: str, within: float) -> None:
        """Until ``needle`` appears in the log; fails at once if the child dies first."""
        deadline = time.monotonic() + within
        while needle not in self.text():
            if not self.alive:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} never logged {needle!r}:\n{self.tail()}")
            await asyncio.sleep(0.1)


class DevServer:
    """``temporal server start-dev`` on a file database, restartable on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.db_file = directory / "temporal.db"
        self.port = free_port()
        self.http_port = free_port()
        self.proc: Proc | None = None
        self.starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        command = [str(BIN / "temporal"), "server", "start-dev"]
        command += ["--db-filename", str(self.db_file), "--headless", "--ip", "127.0.0.1"]
        command += ["--port", str(self.port), "--http-port", str(self.http_port)]
        command += ["--log-level", "error"]
        for key in SEARCH_ATTRIBUTES:
            value_type = SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type]
            command += ["--search-attribute", f"{key.name}={value_type}"]
        return command

    async def start(self, within: float = 60.0) -> None:
        """Start (or restart on the same file and port) and wait until it serves us."""
        self.starts += 1
        log = self.directory / f"temporal-{self.starts}.log"
        self.proc = Proc("temporal", self.command(), dict(os.environ), log)
        deadline = time.monotonic() + within
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self.proc.alive:
                raise RuntimeError(f"temporal exited:\n{self.proc.tail()}")
            try:
                client = await asyncio.wait_for(Client.connect(self.address), 5)
                await check_search_attributes(client)
                return
            except Exception as error:  # not up yet: refused, namespace not ready...
                last = error
                await asyncio.sleep(0.2)
        raise TimeoutError(f"temporal at {self.address} not ready: {last}")

    async def stop(self) -> None:
        """SIGTERM, as an operator's restart would; the file keeps every workflow."""
        if self.proc is not None:
            await self.proc.stop()

    async def client(self) -> Client:
        """A client as the API has one (pydantic payloads)."""
        return await Client.connect(self.address, data_converter=pydantic_data_converter)


def worker_env(
    address: str, task_queue: str, database_url: str, gateway_url: str, secret: str
) -> dict[str, str]:
    """``worker.py``'s settings, and nothing inherited that could point it elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPLUS_")}
    return env | {
        "GRIDPLUS_TEMPORAL_ADDRESS": address,
        "GRIDPLUS_TASK_QUEUE": task_queue,
        "GRIDPLUS_DATABASE_URL": database_url,
        "GRIDPLUS_BOT_GATEWAY_URL": gateway_url,
        "GRIDPLUS_DEPARTMENT_GATEWAY_URL": gateway_url,
        "GRIDPLUS_BOT_SECRET": secret,
        "GRIDPLUS_WORKER_METRICS_ADDRESS": "",
        "PYTHONUNBUFFERED": "1",
    }


async def start_worker(env: dict[str, str], log: Path, within: float = 60.0) -> Proc:
    """``.venv/bin/python worker.py``, ready once it says it polls its task queue."""
    worker = Proc("worker", [str(BIN / "python"), "worker.py"], env, log)
    try:
        await worker.wait_for_output("polling task queue", within)
    except BaseException:
        await worker.stop(5)
        raise
    return worker
