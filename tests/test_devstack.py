"""The local stack's pieces that can be checked without starting Temporal.

The full ``make run`` (Temporal dev server, worker, API) is exercised by hand / in CI
smoke runs; here: the server command line, port checks, and the supervisor's promises
(a dying child is noticed, stopping terminates every child) on tiny Python children.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.common import SearchAttributeIndexedValueType

from api.security import read_token
from constants import SEARCH_ATTRIBUTES
from settings import get_settings
from tools.devstack import (
    SEARCH_ATTRIBUTE_TYPES,
    StartupError,
    check_ports_free,
    child_commands,
    clock_env,
    demo_credentials,
    parse_args,
    temporal_command,
)
from tools.process_supervisor import Interrupted, RestartPolicy, Supervisor


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


def test_banner_prints_an_open311_api_key_that_is_a_system_token() -> None:
    """Issue 12 item 11: an Open311 ``api_key`` is a ``system`` token; ``make run`` prints one."""
    [line] = [line for line in demo_credentials() if "open311 api_key" in line]
    secret = get_settings().api_token_secret.get_secret_value()
    assert read_token(secret, line.split()[-1]).role == "system"


def test_busy_port_is_reported() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StartupError, match=f"port {port} \\(api\\)"):
            check_ports_free("127.0.0.1", {"api": port})


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


FAST = RestartPolicy(first_delay=0.05, max_delay=0.2, stable_after=60, max_crashes=3, window=60)


async def _until(check: Callable[[], bool], what: str, steps: int = 400) -> None:
    for _ in range(steps):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never: {what}")


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _started(path: Path, times: int) -> bool:
    return len(_pids(path)) == times


def test_restart_backoff_doubles_up_to_its_cap() -> None:
    """Issue 12 item 8: 1 s, 2 s, 4 s... capped."""
    assert [RestartPolicy().delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


async def test_supervisor_restarts_a_killed_child_with_backoff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12 item 8: a SIGKILLed child comes back (the old supervisor stopped everything)."""
    supervisor = Supervisor(stop_timeout=5, policy=FAST)
    pids = tmp_path / "pids"
    code = f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(60)"
    child = await supervisor.spawn("worker", _python(code), dict(os.environ), ".")
    await _until(lambda: len(_pids(pids)) == 1, "first start")
    for kill in (1, 2):
        os.killpg(_pids(pids)[-1], signal.SIGKILL)
        await _until(functools.partial(_started, pids, kill + 1), f"restart {kill}")
    assert child.restarts == 2 and child.process.pid == _pids(pids)[-1]
    assert supervisor.failure is None and not supervisor.child_failed.is_set()
    await supervisor.stop_all()
    assert child.process.returncode is not None and supervisor.failure is None
    out = capsys.readouterr().out
    assert "worker exited unexpectedly with code -9" in out
    assert "restarting in 0.05 s (exit 1 of 3 within 60 s)" in out
    assert "restarting in 0.1 s (exit 2 of 3 within 60 s)" in out  # the backoff doubled
    assert f"restarted worker (pid {_pids(pids)[-1]})" in out


async def test_supervisor_gives_up_on_a_child_that_keeps_crashing() -> None:
    supervisor = Supervisor(stop_timeout=5, policy=FAST)
    env = dict(os.environ)
    sleeper = await supervisor.spawn("sleeper", _python("import time; time.sleep(60)"), env, ".")
    crasher = await supervisor.spawn(
        "crasher", _python("print('bye'); raise SystemExit(3)"), env, "."
    )
    with pytest.raises(Interrupted):
        await supervisor.guard(supervisor.stop_requested.wait())
    assert (
        supervisor.failure == "crasher keeps crashing: 3 exits within 60 s (last code 3); giving up"
    )
    assert crasher.restarts == 2 and sleeper.restarts == 0
    await supervisor.stop_all()
    assert sleeper.process.returncode is not None


async def test_a_child_whose_program_is_gone_is_given_up(tmp_path: Path) -> None:
    script = tmp_path / "vanishing"
    script.write_text("#!/bin/sh\nexit 3\n")
    script.chmod(0o755)
    supervisor = Supervisor(stop_timeout=5, policy=FAST)
    await supervisor.spawn("vanishing", [str(script)], dict(os.environ), ".")
    script.unlink()  # exec'd already; the restart cannot find it
    with pytest.raises(Interrupted):
        await supervisor.guard(supervisor.stop_requested.wait())
    assert (supervisor.failure or "").startswith("cannot restart vanishing:")
    await supervisor.stop_all()


async def test_a_stable_run_resets_the_backoff(capsys: pytest.CaptureFixture[str]) -> None:
    policy = RestartPolicy(first_delay=0.05, stable_after=0.2, max_crashes=10, window=60)
    supervisor = Supervisor(stop_timeout=5, policy=policy)
    code = "import time; time.sleep(0.3); raise SystemExit(1)"  # each run counts as stable
    child = await supervisor.spawn("steady", _python(code), dict(os.environ), ".")
    await _until(lambda: child.restarts >= 3, "three restarts")
    await supervisor.stop_all()
    out = capsys.readouterr().out
    assert out.count("restarting in 0.05 s") >= 3 and "restarting in 0.1 s" not in out


async def test_a_stop_during_the_backoff_restarts_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = RestartPolicy(first_delay=30)
    supervisor = Supervisor(stop_timeout=5, policy=policy)
    child = await supervisor.spawn("api", _python("raise SystemExit(2)"), dict(os.environ), ".")
    await _until(lambda: "restarting in 30 s" in capsys.readouterr().out, "a restart pending")
    await asyncio.wait_for(supervisor.stop_all(), 5)
    assert child.restarts == 0 and supervisor.failure is None


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
