"""Camera-scale intake: 200 cameras and 50 sensors, open loop, both paths in one run.

Stands up the Temporal dev server (in memory), migrates the database (PostgreSQL by default:
the ``--db-url`` database is **emptied**), loads the synthetic town, then for each path in
turn runs our worker (``python -m worker``) and API (uvicorn) as processes of their own:

* ``per-detection``: ``GRIDPLUS_INTAKE_COALESCE=false``, every later detection above
  threshold is its own update-with-start to its case (the path before issue 18; a scene's
  first detection starts its case on both paths);
* ``coalesced``: the default: an open scene's later detections are recorded and reach the
  case as one update per case per ``GRIDPLUS_INTAKE_COALESCE_SECONDS``;
* ``coalesced-route`` (on request): the same, its detections posted as
  ``application/merge-patch+json``, which the lean door (``api.device_lean``) hands on to
  the FastAPI route: the API's CPU per detection with and without the lean door.

Each path gets its own 200 cameras and 50 sensors. First every camera's scene is opened (one
detection each, so the cases exist), then detections are offered open-loop at rising rates
until the p99 passes 100 ms, in a realistic mix: 87 % into scenes already open, 10 % below
the confidence threshold, 1.5 % new scenes (a red-light camera seeing a new plate), 1.5 %
sensor alarms. Per step it prints accepted/s, p50/p99 (from when each post was due),
refusals (503/429 with Retry-After) and the CPU per process; per path, after the coalescer
has drained: detections recorded in the database vs accepted, cases opened vs distinct
scenes, and Temporal updates (``evidence_added`` entries) per merged detection. The
coalesced path ends with a long step at one rate (``--steady-seconds``, at its best rate, or
0.8 of its highest): the updates per merged detection counted in that step's window once
the flusher is in its rhythm (the whole-run figure is mostly warm-up), cameras and sensors
apart, and the seconds between one case's updates (the flush interval holding).

Usage: ``python -m bench.device_intake [--quick] [--db-url URL] [--seconds 6]``. ``--quick``
(about two minutes): shorter steps, fewer of them. No pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import server_latency
from bench.device_fleet import PEPPER, Mix, at_rest, register_fleet, reset, settle, steady_line
from bench.intake import machine, percentile
from bench.loadgen import Pool, open_loop
from bench.processes import CpuMeter, child, memory_dev_server, wait_http
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex, load_grid_index
from tools.process_supervisor import free_port

BIN = Path(sys.executable).parent
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/h_device"
P99_LIMIT_MS = 100.0


@dataclass
class Step:
    rate: float
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    # each answered post's second of the step (when it was due), for ``seconds``
    second: list[int] = field(default_factory=list)
    elapsed: float = 1.0
    cpu: str = ""
    server: str = ""
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    why: dict[str, int] = field(default_factory=dict)  # failed posts: status or error

    def fail(self, why: str) -> None:
        """A post that was neither accepted nor refused, and why (status or error)."""
        self.failed += 1
        self.why[why] = self.why.get(why, 0) + 1

    def line(self) -> str:
        """Accepted/s, refused, failed (and why), p50/p99: the step as printed."""
        return (
            f"accepted {self.accepted / self.elapsed:.0f}/s ({self.accepted}/{self.sent}), "
            f"refused {self.refused}, failed {self.failed}{self.why or ''}; "
            f"p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms"
        )

    def kinds(self) -> str:
        """p99 per kind of post: the database path apart from the posts that wait for
        Temporal (a new scene's start, a sensor's alarm: its case's workflow)."""
        parts = [
            f"{kind} ({len(values)}) {1000 * percentile(values, 0.99):.0f} ms"
            for kind, values in sorted(self.by_kind.items())
        ]
        return "p99 by kind: " + ", ".join(parts)

    def seconds(self) -> str:
        """p99 per second of the step: a tail spread over the step (the machine is short of
        CPU) reads differently from one second's stall (a burst of work, a cold cache)."""
        by_second: dict[int, list[float]] = {}
        for second, latency in zip(self.second, self.latencies, strict=True):
            by_second.setdefault(second, []).append(latency)
        parts = [
            f"{1000 * percentile(values, 0.99):.0f}" for _, values in sorted(by_second.items())
        ]
        return "p99 ms by second: " + " ".join(parts)

    @property
    def p50(self) -> float:
        return 1000 * percentile(self.latencies, 0.5)

    @property
    def p99(self) -> float:
        return 1000 * percentile(self.latencies, 0.99)


class Stack:
    """Our worker and API as processes of their own, on one path (coalesced or not)."""

    def __init__(
        self, address: str, url: str, meter: CpuMeter, coalesce: bool, profile: str | None = None
    ) -> None:
        self.address, self.url, self.meter, self.coalesce = address, url, meter, coalesce
        self.port = free_port()
        self.profile = profile  # cProfile the API into this file (stats written at its exit)
        self.max_wait = 10.0
        self.worker_nice = 0
        self.api_workers = 1
        # JSON that the lean door (``api.device_lean``) hands on to the FastAPI route
        self.content_type = "application/json"

    @property
    def metrics_port(self) -> int | None:
        """Where the API's own histogram is read: one process only."""
        return self.port if self.api_workers == 1 else None

    @contextlib.asynccontextmanager
    async def running(self, seconds: float) -> AsyncIterator[Pool]:
        env = {
            "GRIDPLUS_TEMPORAL_ADDRESS": self.address,
            "GRIDPLUS_DATABASE_URL": self.url,
            "GRIDPLUS_TASK_QUEUE": f"bench-devices-{uuid.uuid4().hex[:6]}",
            "GRIDPLUS_DEVICE_KEY_PEPPER": PEPPER,
            "GRIDPLUS_INTAKE_COALESCE": str(self.coalesce).lower(),
            "GRIDPLUS_INTAKE_COALESCE_SECONDS": str(seconds),
            "GRIDPLUS_INTAKE_COALESCE_MAX_WAIT_SECONDS": str(self.max_wait),
            # 250 devices at up to 2,000/s is 8/s each: above the production limit of
            # 10/s only in bursts; the limiter is not what is measured here
            "GRIDPLUS_DEVICE_RATE_PER_SECOND": "100",
            "GRIDPLUS_DEVICE_BURST": "200",
            "GRIDPLUS_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        }
        api = ["-m", "bench.profile_api", self.profile] if self.profile else []
        api += [] if self.profile else ["-m", "uvicorn"]
        api += ["api.main:app", "--port", str(self.port)]
        api += ["--log-level", "warning", "--no-access-log"]
        if self.api_workers > 1:  # uvicorn's worker processes: their CPU shows as the rest's
            api += ["--workers", str(self.api_workers)]
        async with (
            child("worker", ["-m", "worker"], env, self.meter) as worker,
            child("api", api, env, self.meter),
        ):
            if self.worker_nice:  # the API's posts before the worker's asynchronous work
                os.setpriority(os.PRIO_PROCESS, worker.pid, self.worker_nice)
            await wait_http(f"http://127.0.0.1:{self.port}/healthz")
            pool = Pool("127.0.0.1", self.port, size=512, content_type=self.content_type)
            try:
                yield pool
            finally:
                await pool.close()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The load generator's garbage collector off for a step (a collection before it): a
    full collection of this process's heap (every step's latencies, thousands of tasks) took
    up to 150 ms, and the posts due meanwhile were sent late, counted against the service
    as their latency, open loop (2026-12-01, a ``gc.callbacks`` probe)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def offer(
    pool: Pool, mix: Mix, rate: float, seconds: float, meter: CpuMeter, port: int | None
) -> Step:
    """One open-loop step; ``port`` None: the API runs as several processes, each with its
    own metrics, so its own histogram is not read."""
    step = Step(rate)
    before = await server_latency.device_posts(port) if port else {}

    async def fire(i: int, due: float) -> None:
        path, key, body = mix.next()
        scene, kind = mix.scene, mix.kind
        step.sent += 1
        try:
            status, _ = await asyncio.wait_for(pool.post(path, body, {"X-Device-Key": key}), 30)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, IndexError, ValueError) as e:
            step.fail(type(e).__name__)
            return
        step.latencies.append(time.perf_counter() - due)
        step.second.append(int(due - start))
        step.by_kind.setdefault(kind, []).append(step.latencies[-1])
        if status == 202:
            step.accepted += 1
            if scene:
                mix.scenes.add(scene)
        elif status in (429, 503):
            step.refused += 1
        else:
            step.fail(str(status))

    with collector_paused():
        meter.start()
        start = time.perf_counter()
        await asyncio.gather(*await open_loop(rate, seconds, fire))
        step.elapsed = time.perf_counter() - start
    step.cpu = meter.split(step.accepted)
    step.server = (
        server_latency.describe(before, await server_latency.device_posts(port))
        if port
        else "in the API: not read (several API processes, each with its own metrics)"
    )
    return step


async def steady(
    pool: Pool,
    mix: Mix,
    rate: float,
    args: argparse.Namespace,
    meter: CpuMeter,
    port: int | None,
) -> tuple[datetime, datetime, int]:
    """A long step at one rate; the window where the coalescer is in its rhythm (after a
    warm-up of its longest wait plus one flush) and what was accepted."""
    began = datetime.now(UTC)
    step = await offer(pool, mix, rate, args.steady_seconds, meter, port)
    warm = args.coalesce_seconds + args.coalesce_max_wait
    print(f"  steady {rate:.0f}/s for {args.steady_seconds:.0f} s: {step.line()}")
    print(f"    {step.cpu}")
    print(f"    {step.server}; {step.kinds()}")
    print(f"    {step.seconds()}")
    return began + timedelta(seconds=warm), datetime.now(UTC), step.accepted


async def run_path(
    name: str, coalesce: bool, rates: list[float], args: argparse.Namespace,
    sessions: SessionFactory, grids: GridIndex, address: str, meter: CpuMeter,
) -> dict[str, float]:  # fmt: skip
    tag = f"B{uuid.uuid4().hex[:4]}{'C' if coalesce else 'P'}"
    fleet = await register_fleet(sessions, grids, tag, args.cameras, args.sensors)
    mix = Mix(fleet)
    profile = f"{args.profile_api}.{name}" if args.profile_api else None
    stack = Stack(address, args.db_url, meter, coalesce, profile)
    stack.worker_nice, stack.api_workers = args.worker_nice, args.api_workers
    stack.max_wait = args.coalesce_max_wait
    if name.endswith("-route"):
        stack.content_type = "application/merge-patch+json"
    accepted, best, top, beyond = 0, 0.0, 0.0, 0
    async with stack.running(args.coalesce_seconds) as pool:
        # open every camera's scene first (these cases exist before the load starts)
        for i in range(0, len(fleet.cameras), 20):
            batch = []
            for j in range(i, min(i + 20, len(fleet.cameras))):
                batch.append((*mix.opening(j), mix.scene))
            opened = await asyncio.gather(
                *(pool.post(p, b, {"X-Device-Key": k}) for p, k, b, _ in batch)
            )
            accepted += sum(status == 202 for status, _ in opened)
            mix.scenes |= {
                sc for (st, _), (*_, sc) in zip(opened, batch, strict=True) if st == 202 and sc
            }
        await at_rest(sessions, tag, accepted)  # the scenes are open, the worker idle
        for rate in rates:
            step = await offer(pool, mix, rate, args.seconds, meter, stack.metrics_port)
            accepted += step.accepted
            top = max(top, step.accepted / step.elapsed)
            print(f"  {name} offered {rate:.0f}/s: {step.line()}")
            print(f"    {step.cpu}")
            print(f"    {step.server}; {step.kinds()}")
            print(f"    {step.seconds()}")
            if step.p99 <= P99_LIMIT_MS and not step.failed and not step.refused:
                best = max(best, step.accepted / step.elapsed)
            if step.p99 > P99_LIMIT_MS:
                beyond += 1
                if beyond > args.beyond:
                    break
        window = None
        if coalesce and args.steady_seconds:
            window = await steady(pool, mix, (best or 0.8 * top), args, meter, stack.metrics_port)
            accepted += window[2]
        counts = await settle(sessions, tag)
    if window is not None:
        print(f"  {name} {await steady_line(sessions, tag, window[0], window[1])}")
    # each case's opening detection started it (the filing's evidence); the rest merged
    merged = counts["in_cases"] - counts["cases"]
    merged_updates = counts["updates"] / max(1, merged)
    print(
        f"  {name}: accepted {accepted}, recorded {counts['recorded']} "
        f"(lost {accepted - counts['recorded']}), still pending {counts['pending']}; "
        f"cases {counts['cases']} for {len(mix.scenes)} distinct scenes; Temporal updates "
        f"{counts['updates']} for {counts['in_cases']} detections in cases, "
        f"{merged_updates:.3f} per merged detection ({merged} merged)"
    )
    print(
        f"  {name}: best rate with p99 <= {P99_LIMIT_MS:.0f} ms and nothing refused: "
        f"{best:.0f}/s; highest accepted rate of any step {top:.0f}/s"
    )
    return {"best": best, "top": top, "updates_per": merged_updates}


async def main(args: argparse.Namespace) -> None:
    print(f"# gridplus device intake — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"# database: {args.db_url.split('@')[-1]}; dev server in memory, {BIN / 'temporal'}")
    sessions = await reset(args.db_url)
    grids = await load_grid_index(sessions)
    env = await memory_dev_server()
    meter = CpuMeter()
    meter.watch("benchmark (load)", os.getpid())
    meter.watch_temporal()
    address = env.client.service_client.config.target_host
    old_rates = [10.0, 20.0, 40.0, 80.0] if args.quick else [10, 20, 40, 60, 80, 120, 160]
    new_rates = [100.0, 250.0, 500.0, 1000.0] if args.quick else [100, 250, 500, 750, 1000]
    new_rates += [] if args.quick else [1250, 1500, 2000]
    if args.rates:
        old_rates = new_rates = args.rates
    results: dict[str, dict[str, float]] = {}
    try:
        for name in args.paths:
            rates = old_rates if name == "per-detection" else new_rates
            results[name] = await run_path(
                name, name.startswith("coalesced"), [float(r) for r in rates], args, sessions,
                grids, address, meter,
            )  # fmt: skip
            for process in ("worker", "api"):
                meter.pids.pop(process, None)
        if {"per-detection", "coalesced"} <= results.keys():
            old, new = results["per-detection"], results["coalesced"]
            ratio = new["best"] / old["best"] if old["best"] else float("inf")
            print(
                f"coalesced / per-detection, best rate with p99 <= {P99_LIMIT_MS:.0f} ms: "
                f"{new['best']:.0f}/s vs {old['best']:.0f}/s = {ratio:.1f}x; highest accepted "
                f"{new['top']:.0f}/s vs {old['top']:.0f}/s = "
                f"{new['top'] / max(1, old['top']):.1f}x; Temporal updates per merged detection "
                f"{new['updates_per']:.3f} vs "
                f"{old['updates_per']:.3f}"
            )
    finally:
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about two minutes")
    parser.add_argument("--db-url", default=DEFAULT_DB, help="emptied first!")
    parser.add_argument("--seconds", type=float, default=None, help="per rate step")
    parser.add_argument("--cameras", type=int, default=200)
    parser.add_argument("--sensors", type=int, default=50)
    parser.add_argument("--coalesce-seconds", type=float, default=5.0)
    parser.add_argument(
        "--coalesce-max-wait", type=float, default=10.0, help="the API's setting (its default)"
    )
    parser.add_argument(
        "--steady-seconds", type=float, default=None,
        help="coalesced path: a last step this long at the best rate, for the updates per "
        "merged detection in steady state (0: none; default 40, 30 with --quick)",
    )  # fmt: skip
    parser.add_argument(
        "--paths", nargs="+", choices=["per-detection", "coalesced", "coalesced-route"],
        default=["per-detection", "coalesced"],
        help="coalesced-route: the coalesced path through FastAPI's route, not the lean door",
    )  # fmt: skip
    parser.add_argument("--profile-api", help="cProfile the API process into FILE.<path>")
    parser.add_argument("--rates", type=float, nargs="+", help="instead of the rising defaults")
    parser.add_argument("--api-workers", type=int, default=1, help="API processes (uvicorn)")
    parser.add_argument(
        "--worker-nice", type=int, default=0, help="the worker's CPU priority below the API's"
    )
    parser.add_argument(
        "--beyond", type=int, default=1, help="steps still run after p99 passed 100 ms"
    )
    parsed = parser.parse_args()
    parsed.seconds = parsed.seconds or (4.0 if parsed.quick else 8.0)
    if parsed.steady_seconds is None:
        parsed.steady_seconds = 30.0 if parsed.quick else 40.0
    asyncio.run(main(parsed))
    # the figures are printed; skip interpreter finalization, where the Temporal runtime's
    # thread sometimes aborts the process ("PyGILState_Release") after everything is done
    sys.stdout.flush()
    os._exit(0)
