"""The local stack's pieces that can be checked without starting Temporal.

The full ``make run`` (Temporal dev server, worker, API) is exercised by hand / in CI
smoke runs; here: the server command line, port checks, and the supervisor's promises
(a dying child is noticed, stopping terminates every child) on tiny Python children.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from temporalio.common import SearchAttributeIndexedValueType

from constants import SEARCH_ATTRIBUTES
from tools.devstack import (
    SEARCH_ATTRIBUTE_TYPES,
    StartupError,
    check_ports_free,
    child_commands,
    clock_env,
    parse_args,
    temporal_command,
)
from tools.procs import Interrupted, Supervisor


def test_every_value_type_has_a_cli_name() -> None:
    assert set(SEARCH_ATTRIBUTE_TYPES) == set(SearchAttributeIndexedValueType)


def test_temporal_command_registers_every_search_attribute() -> None:
    command = temporal_command(parse_args(["--temporal-port", "7299", "--data-dir", "/x"]))
    flags = [command[i + 1] for i, arg in enumerate(command) if arg == "--search-attribute"]
    assert len(flags) == len(SEARCH_ATTRIBUTES)
    assert "GpPriority=Int" in flags and "GpDeadline=Datetime" in flags
    assert "GpOverdue=Bool" in flags and "GpStatus=Keyword" in flags
    assert command[command.index("--port") + 1] == "7299"
    assert command[command.index("--db-filename") + 1] == "/x/temporal.db"
    assert "journal_mode=wal" in command and "synchronous=normal" in command


def test_children_without_simulator() -> None:
    names = [name for name, _, _ in child_commands(parse_args(["--no-sim", "--api-port", "9"]))]
    assert names == ["worker", "api"]
    api = child_commands(parse_args(["--no-sim", "--api-port", "9"]))[1][1]
    assert api[-2:] == ["--port", "9"]


def test_fast_clock_scales_the_catalog_and_the_simulated_stewards() -> None:
    """Issue 12 item 10: ``make run ARGS="--fast-clock 60"``."""
    args = parse_args(["--fast-clock", "60"])
    assert clock_env(args) == {"GRIDPLUS_CATALOG_TIME_SCALE": "60"}
    sim = child_commands(parse_args(["--fast-clock", "60"]))[0]
    assert sim[0] == "sim" and sim[1][sim[1].index("--speed") + 1] == "60"
    assert clock_env(parse_args([])) == {}
    for bad in ("0.5", "5000"):
        with pytest.raises(SystemExit):
            parse_args(["--fast-clock", bad])


def test_busy_port_is_reported() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StartupError, match=f"port {port} \\(api\\)"):
            check_ports_free("127.0.0.1", {"api": port})


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def test_supervisor_notices_a_dying_child_and_stops_the_others() -> None:
    supervisor = Supervisor(stop_timeout=5)
    env = dict(os.environ)
    sleeper = await supervisor.spawn("sleeper", _python("import time; time.sleep(60)"), env, ".")
    await supervisor.spawn("crasher", _python("print('bye'); raise SystemExit(3)"), env, ".")
    with pytest.raises(Interrupted):
        await supervisor.guard(supervisor.stop_requested.wait())
    assert supervisor.failure == "crasher exited unexpectedly with code 3"
    await supervisor.stop_all()
    assert sleeper.process.returncode is not None


async def test_supervisor_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    supervisor = Supervisor(stop_timeout=0.5)
    ready = tmp_path / "ready"
    code = (
        "import pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    )
    stubborn = await supervisor.spawn("stubborn", _python(code), dict(os.environ), ".")
    for _ in range(200):
        if ready.exists():
            break
        await asyncio.sleep(0.05)
    await supervisor.stop_all()
    assert stubborn.process.returncode == -signal.SIGKILL
    assert supervisor.failure is None
