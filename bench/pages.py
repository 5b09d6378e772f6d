"""The workbench pages under load: the center's queue and the case page with 20,000 open
cases in the projection and 20 signed-in supervisors clicking at once.

Fills the projection of a PostgreSQL (or SQLite) database with ``--cases`` open cases
spread over the town's grids and the queue's buckets (``bench.pages_data``), makes
``--users`` supervisor accounts (half overseeing G001–G010, half the whole town), serves
the real app with uvicorn in a process of its own (against a Temporal dev server: the case
page asks the workflow first and, none running for these cases, falls back to the
projection, the path of every ended case), signs every user in through the form and then
has them all load queue pages (each bucket, some filtered) and case pages concurrently.
Prints p50/p95/p99 per page; no pass/fail. Then one user loads each page ``--cpu-loads``
times in a row and the API process's CPU per load is printed: what a load costs the
server whatever the machine's other load (latency under load is that cost queued).

``--compare REV`` first serves the code of git revision ``REV`` (exported with ``git
archive`` to a temporary directory, on the schema of its own newest migration), then this
tree, on the same rows in the same run: before and after.

Usage: ``python -m bench.pages [--db-url URL] [--cases 20000] [--users 20] [--rounds 30]
[--workers 1] [--think-ms 0] [--cpu-loads 200] [--compare REV]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory

from bench.intake import machine
from bench.pages_data import PASSWORD, accounts, fill, settle
from bench.processes import children, memory_dev_server, process_cpu
from services.platform.db import make_engine, make_session_factory
from services.platform.geo import load_grid_index
from services.platform.migrate import downgrade, upgrade
from tools.demo_data import build_town, load_demo_data
from tools.process_supervisor import free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
BUCKETS = ("returned", "verify", "extension", "overdue", "head", "unclaimed")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(base: str, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=60)
    form = await client.get("/web/signin")
    token = CSRF.search(form.text)
    assert token, form.text
    done = await client.post(
        "/web/signin",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert done.status_code == 303, done.text
    return client


def queue_url(rng: random.Random) -> str:
    """A queue page as supervisors ask for it: any bucket, 30 % filtered by a grid."""
    query = f"bucket={rng.choice(BUCKETS)}" + (
        f"&grid_id=G{rng.randint(1, 10):03d}" if rng.random() < 0.3 else ""
    )
    return f"/web/queue?{query}"


async def user(
    client: httpx.AsyncClient,
    ids: list[str],
    rounds: int,
    seed: int,
    times: dict[str, list[float]],
    think: float = 0.0,
) -> None:
    """One supervisor: a queue page (a bucket, sometimes filtered), then a case page,
    reading each for ``think`` seconds on average (0: clicking as fast as answered)."""
    rng = random.Random(seed)
    for _ in range(rounds):
        for name, url in (("queue", queue_url(rng)), ("case", f"/web/cases/{rng.choice(ids)}")):
            t0 = time.perf_counter()
            answer = await client.get(url)
            times[name].append((time.perf_counter() - t0) * 1000)
            assert answer.status_code in (200, 403), (url, answer.status_code)
            if think:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def server_cpu(pid: int) -> float:
    """CPU seconds of the API: the uvicorn process and its workers."""
    return process_cpu(pid) + sum(process_cpu(child) for child in children(pid))


async def cpu_per_load(client: httpx.AsyncClient, pid: int, ids: list[str], loads: int) -> str:
    """The API's CPU ms per load of each page, loads one after another (nothing queued)."""
    rng = random.Random(7)
    parts = []
    for name in ("queue", "case"):
        before = server_cpu(pid)
        for _ in range(loads):
            url = queue_url(rng) if name == "queue" else f"/web/cases/{rng.choice(ids)}"
            assert (await client.get(url)).status_code in (200, 403), url
        parts.append(f"{name} {(server_cpu(pid) - before) * 1000 / loads:.1f}")
    return f"API CPU ms per load, {loads} loads one at a time: " + ", ".join(parts)


async def measure(
    label: str,
    root: Path,
    url: str,
    temporal: str,
    names: list[str],
    ids: list[str],
    args: argparse.Namespace,
) -> None:
    """Serve the app from ``root``, sign every user in, warm up, then measure and print."""
    api_port = free_port()
    server = subprocess.Popen(  # noqa: ASYNC220  (once, before measuring)
        [str(BIN / "python"), "-m", "uvicorn", "api.main:app", "--port", str(api_port),
         "--workers", str(args.workers), "--log-level", "warning",
         # a signed-in browser keeps its connection; uvicorn's 5 s default dropped idle
         # ones while twenty users signed in on a busy machine (httpx.ReadError)
         "--timeout-keep-alive", "120"],
        cwd=root,
        env={
            **os.environ,
            "GRIDPLUS_TEMPORAL_ADDRESS": temporal,
            "GRIDPLUS_DATABASE_URL": url,
            "GRIDPLUS_WEB_LOCKOUT_FAILURES": "100",
        },
    )  # fmt: skip
    base = f"http://127.0.0.1:{api_port}"
    try:
        for _ in range(120):
            try:
                if (await httpx.AsyncClient().get(f"{base}/healthz")).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
        clients = [await sign_in(base, name) for name in names]
        times: dict[str, list[float]] = {"queue": [], "case": []}
        await asyncio.gather(
            *(user(c, ids, 3, n, {"queue": [], "case": []}) for n, c in enumerate(clients))
        )
        think = args.think_ms / 1000
        load_start, t0 = os.getloadavg()[0], time.perf_counter()
        await asyncio.gather(
            *(user(c, ids, args.rounds, 100 + n, times, think) for n, c in enumerate(clients))
        )
        wall = time.perf_counter() - t0
        total = sum(len(v) for v in times.values())
        print(
            f"## {label}: {args.users} users x {args.rounds} rounds, {total} requests in "
            f"{wall:.1f} s ({total / wall:.1f} req/s), uvicorn workers: {args.workers}, "
            f"think {args.think_ms} ms; load average {load_start:.1f} -> "
            f"{os.getloadavg()[0]:.1f}"
        )
        print(f"{'page':<8} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name, values in times.items():
            print(
                f"{name:<8} {len(values):>6} {statistics.median(values):>8.1f} "
                f"{pct(values, 0.95):>8.1f} {pct(values, 0.99):>8.1f} {max(values):>8.1f}"
            )
        if args.cpu_loads:
            print(await cpu_per_load(clients[1], server.pid, ids, args.cpu_loads))
        for client in clients:
            await client.aclose()
    finally:
        server.terminate()
        server.wait(30)


async def migrate_to(url: str, migrations: Path) -> str:
    """Down (or up) to the newest revision under ``migrations`` (an older tree's)."""
    head = ScriptDirectory(str(migrations)).get_current_head()
    assert head is not None, migrations
    await downgrade(url, head)
    return head


async def main(args: argparse.Namespace) -> None:
    print(f"# gridplus workbench pages — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start")
    url = args.db_url
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    await load_demo_data(sessions, build_town(seed=17, stewards=50))
    grid_ids = (await load_grid_index(sessions)).grid_ids
    t0 = time.perf_counter()
    ids = await fill(sessions, grid_ids, args.cases)
    await settle(url)
    print(f"# {len(ids)} open cases projected in {time.perf_counter() - t0:.1f} s")
    names = await accounts(sessions, args.users)
    temporal_port = free_port()
    env = await memory_dev_server(port=temporal_port)
    temporal = f"127.0.0.1:{temporal_port}"
    try:
        if args.compare:
            with tempfile.TemporaryDirectory() as old:
                archive = subprocess.run(  # noqa: ASYNC221  (once, before measuring)
                    ["git", "-C", str(ROOT), "archive", args.compare],
                    check=True,
                    capture_output=True,
                ).stdout
                subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)  # noqa: ASYNC221
                head = await migrate_to(url, Path(old) / "migrations")
                await settle(url)
                label = f"before ({args.compare}, schema {head})"
                await measure(label, Path(old), url, temporal, names, ids, args)
            await upgrade(url)
            await settle(url)
        label = "after (this tree)" if args.compare else "this tree"
        await measure(label, ROOT, url, temporal, names, ids, args)
    finally:
        await env.shutdown()
        await engine.dispose()


def cli() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pages")
    parser.add_argument(
        "--db-url",
        default=os.environ.get(
            "GRIDPLUS_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/h_desk"
        ),
    )
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=30, help="queue + case page per user")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--think-ms", type=int, default=0, help="mean pause between clicks")
    parser.add_argument("--cpu-loads", type=int, default=200, help="0: no CPU measure")
    parser.add_argument("--compare", metavar="REV", help="measure git revision REV first")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(cli()))
