"""A camera burst through the real pieces: how fast detections are accepted, and merged.

Stands up, in this process: the Temporal dev server from ``.venv/bin/temporal`` (in
memory), a SQLite database in a temporary directory (migrated, with the SYNTHETIC demo
town), the production worker and the FastAPI app over ``httpx.ASGITransport``. Then, side
by side in one run:

1. **one scene**: ``--detections`` detections of the same parked car by one camera, their
   ``detected_at`` spread over ten minutes, posted ``--concurrency`` at a time: they all
   merge into one case (update-with-start on one workflow id);
2. **many scenes**: the same number of detections spread over ``--cameras`` cameras: one case
   per camera, so the cost of starting cases against merging into one shows;
3. **recorded only**: the same burst below the confidence threshold: validation, device
   authentication and the ``detection`` row, no Temporal call: the door's own floor.

Prints detections/second accepted, p50/p99 of the detection POST, the cases made, the
``/healthz`` latency measured during the burst, and the machine and date. No pass/fail.

Usage: ``.venv/bin/python -m bench.camera_burst [--detections 500] [--concurrency 50]``.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from api.main import create_app
from bench.processes import memory_dev_server
from schemas.platform.common import GeoPoint
from services.intake.devices import register_device
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.geo import GridIndex, load_grid_index
from services.platform.migrate import upgrade
from settings import Settings
from tools.demo_data import build_town, load_demo_data
from worker import build_worker

BIN = Path(sys.executable).parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()}, Python {platform.python_version()}"
    )


async def cameras(sessions: SessionFactory, grids: GridIndex, count: int) -> list[tuple[str, str]]:
    """``count`` fresh cameras at grid centroids: (device id, key)."""
    made = []
    for i, grid_id in enumerate(grids.grid_ids[:count]):
        grid = grids.grid(grid_id)
        assert grid is not None
        device_id = f"BENCH-CAM-{uuid.uuid4().hex[:6]}-{i}"
        at = GeoPoint(lat=grid.centroid_lat, lon=grid.centroid_lon)
        made.append((device_id, await register_device(sessions, grids, device_id, "camera", at)))
    return made


async def burst(
    api: httpx.AsyncClient,
    devices: list[tuple[str, str]],
    total: int,
    concurrency: int,
    confidence: float = 0.93,
) -> dict[str, Any]:
    """Post ``total`` detections round-robin over ``devices``; measure while /healthz is probed."""
    start_at = datetime.now(UTC) - timedelta(minutes=10)
    step = timedelta(minutes=10) / total
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    health: list[float] = []
    outcomes: list[dict[str, Any]] = []
    errors = 0
    done = asyncio.Event()

    async def one(i: int) -> None:
        nonlocal errors
        device_id, key = devices[i % len(devices)]
        body = {
            "event_id": f"b{i:06d}",
            "detection_type": "illegal_parking",
            "confidence": confidence,
            "detected_at": (start_at + i * step).isoformat(),
            "snapshot_url": f"https://cams.example/{device_id}/{i}.jpg",
        }
        async with gate:
            t0 = time.perf_counter()
            response = await api.post(
                f"/devices/{device_id}/detections", json=body, headers={"X-Device-Key": key}
            )
            latencies.append(time.perf_counter() - t0)
        if response.status_code == 202:
            outcomes.append(response.json())
        else:
            errors += 1

    async def probe() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            await api.get("/healthz")
            health.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)

    prober = asyncio.create_task(probe())
    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(total)))
    elapsed = time.perf_counter() - began
    done.set()
    await prober
    return {
        "rate": len(outcomes) / elapsed,
        "elapsed": elapsed,
        "p50": 1000 * percentile(latencies, 0.50),
        "p99": 1000 * percentile(latencies, 0.99),
        "mean": 1000 * statistics.fmean(latencies) if latencies else float("nan"),
        "cases": len({o["case_id"] for o in outcomes if o["case_id"]}),
        "merged": sum(o["merged"] for o in outcomes),
        "errors": errors,
        "health_p50": 1000 * percentile(health, 0.50),
        "health_p99": 1000 * percentile(health, 0.99),
        "health_n": len(health),
    }


def line(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name}: {r['rate']:.1f} detections/s accepted ({r['elapsed']:.1f} s); POST p50 "
        f"{r['p50']:.0f} ms, p99 {r['p99']:.0f} ms; {r['cases']} case(s), {r['merged']} merged, "
        f"{r['errors']} errors; /healthz during it p50 {r['health_p50']:.1f} ms, "
        f"p99 {r['health_p99']:.1f} ms ({r['health_n']} probes)"
    )


async def run(args: argparse.Namespace) -> None:
    print(f"# gridplus camera burst — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        print(
            f"# database: SQLite (temporary file); Temporal: dev server in memory, {BIN}/temporal"
        )
        await upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        await load_demo_data(sessions, build_town(seed=17, stewards=400))
        grids = await load_grid_index(sessions)
        env = await memory_dev_server()
        try:
            await scenarios(args, env.client, sessions, grids, url)
        finally:
            await env.shutdown()
            await engine.dispose()


async def scenarios(
    args: argparse.Namespace, client: Client, sessions: SessionFactory, grids: GridIndex, url: str
) -> None:
    queue = f"bench-burst-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        database_url=url, task_queue=queue, bot_gateway_url=None, department_gateway_url=None
    )
    async with httpx.AsyncClient(timeout=10) as http:
        worker = build_worker(client, sessions, http, settings, task_queue=queue)
        app = create_app(settings, temporal=client, sessions=sessions)
        async with worker, app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gridplus", timeout=60
            ) as api:
                n, c = args.detections, args.concurrency
                print(f"# {n} detections over ten minutes of detected_at, {c} posts in flight")
                one = await burst(api, await cameras(sessions, grids, 1), n, c)
                print(line("one scene (1 camera)", one))
                many = await burst(api, await cameras(sessions, grids, args.cameras), n, c)
                print(line(f"many scenes ({args.cameras} cameras)", many))
                floor = await burst(api, await cameras(sessions, grids, 1), n, c, confidence=0.3)
                print(line("below threshold (recorded only, no Temporal)", floor))
                to_many, to_floor = one["rate"] / many["rate"], one["rate"] / floor["rate"]
                print(
                    f"ratios of detections/s: one scene / many scenes {to_many:.2f}, "
                    f"one scene / recorded only {to_floor:.2f}"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--detections", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--cameras", type=int, default=10)
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
