"""Child processes for the benchmarks, and the CPU each of them (and the machine) spends.

The benchmarks run the service as production does: the API (uvicorn) and the worker each in
a process of their own, the load generator and the fake bot gateway (the outside world) in
the benchmark's process. CPU is read from ``/proc`` so each run can say where its time went.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from constants import SEARCH_ATTRIBUTES
from tools.devstack import wait_for_http

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """Seconds of CPU this machine has spent busy (all cores, all processes) so far."""
    with open("/proc/stat", encoding="utf-8") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="utf-8") as kids:
                found.extend(int(k) for k in kids.read().split())
    return found


@dataclass
class CpuMeter:
    """CPU seconds per named process between ``start()`` and ``split()``."""

    pids: dict[str, int] = field(default_factory=dict)
    _cpu: dict[str, float] = field(default_factory=dict)
    _busy: float = 0.0
    _wall: float = 0.0

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def watch_temporal(self) -> None:
        """The dev server that ``WorkflowEnvironment.start_local`` started under us."""
        for pid in children(os.getpid()):
            with contextlib.suppress(OSError):
                if "temporal" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                    self.pids.setdefault("temporal dev server", pid)

    def start(self) -> None:
        self._cpu = {name: process_cpu(pid) for name, pid in self.pids.items()}
        self._busy, self._wall = machine_busy(), time.perf_counter()

    def split(self, units: int) -> str:
        """``name x ms`` per unit of work for each process, the rest of the machine, total."""
        units = max(1, units)
        parts = []
        ours = 0.0
        for name, pid in self.pids.items():
            spent = process_cpu(pid) - self._cpu.get(name, 0.0)
            ours += spent
            parts.append(f"{name} {1000 * spent / units:.1f}")
        busy = machine_busy() - self._busy
        wall = time.perf_counter() - self._wall
        parts.append(f"rest of machine (database...) {1000 * max(0.0, busy - ours) / units:.1f}")
        return (
            f"CPU ms per unit: {', '.join(parts)}; total {1000 * busy / units:.1f} "
            f"(machine busy {busy / wall:.2f} of {os.cpu_count()} cores)"
        )


@contextlib.asynccontextmanager
async def child(
    name: str, args: list[str], env: dict[str, str], meter: CpuMeter
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``python args...`` from the project root; stop it (SIGTERM, then kill) on exit."""
    log_path = Path(tempfile.gettempdir()) / f"gridplus-bench-{name}.log"
    log = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    meter.watch(name, process.pid)
    print(f"  ({name}: pid {process.pid}, log {log_path})")
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


async def wait_http(url: str, seconds: float = 60) -> None:
    if not await wait_for_http(url, time.monotonic() + seconds):
        raise RuntimeError(f"{url} did not answer within {seconds} s")


async def memory_dev_server(port: int | None = None) -> WorkflowEnvironment:
    """The Temporal dev server a benchmark runs on (in memory, from this virtualenv's
    ``temporal``), with the service's search attributes and payload converter, quiet."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        port=port,
        dev_server_log_level="error",
    )
