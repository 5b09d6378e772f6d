"""The workbench pages under load: the center's queue and the case page with 20,000 open
cases in the projection and 20 signed-in supervisors clicking at once.

Fills the projection of a PostgreSQL (or SQLite) database with ``--cases`` open cases
spread over the town's grids and the queue's buckets (rows the projector would write, with
their timeline entries), makes ``--users`` supervisor accounts (half overseeing G001–G010,
half the whole town), serves the real app with uvicorn in a process of its own (against a
Temporal dev server: the case page asks the workflow first and, none running for these
cases, falls back to the projection, the path of every ended case), signs every user in
through the form and then has them all load queue pages (each bucket, some filtered) and
case pages concurrently. Prints p50/p95/p99 per page; no pass/fail.

Usage: ``python -m bench.pages [--db-url URL] [--cases 20000] [--users 20] [--rounds 30]
[--workers 1] [--think-ms 0]``
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
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import delete, insert, text
from sqlmodel import col

from api.web.accounts import NewAccount, create_account
from bench.intake import machine
from bench.processes import memory_dev_server
from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.platform.accounts import WebAccount, WebSession
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.geo import load_grid_index
from services.platform.migrate import upgrade
from tools.demo_data import build_town, load_demo_data
from tools.process_supervisor import free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
PREFIX = "BENCHPG-"
PASSWORD = "bench pages password"
BUCKETS = ("returned", "verify", "extension", "overdue", "head", "unclaimed")
# (status, handler, share): what an open case of the town is doing right now
MIX = (
    ("department_handling", "department", 0.35),
    ("escalated", "department", 0.2),
    ("accepted", "steward", 0.2),
    ("dispatched", "steward", 0.1),
    ("returned", "steward", 0.05),
    ("resolved", "steward", 0.1),
)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def fill(sessions: SessionFactory, grid_ids: list[str], cases: int) -> list[str]:
    """``cases`` open cases and ~3 timeline entries each; earlier bench rows go first."""
    rng = random.Random(17)
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await session.execute(delete(CaseEvent).where(col(CaseEvent.case_id).like(PREFIX + "%")))
        await session.execute(delete(CaseRecord).where(col(CaseRecord.case_id).like(PREFIX + "%")))
    statuses = [m for m in MIX for _ in range(int(m[2] * 100))]
    ids: list[str] = []
    for start in range(0, cases, 2000):
        records, events = [], []
        for n in range(start, min(cases, start + 2000)):
            status, handler, _ = rng.choice(statuses)
            case_id = f"{PREFIX}{n:06d}"
            reported = now - timedelta(minutes=rng.randint(10, 60 * 24 * 20))
            overdue = rng.random() < 0.15
            records.append(
                {
                    "case_id": case_id,
                    "case_type": rng.choice(("illegal_parking", "red_light_running", "garbage")),
                    "status": status,
                    "source": rng.choice(("steward", "camera", "citizen", "sensor")),
                    "priority": 2,
                    "grid_id": rng.choice(grid_ids),
                    "department": rng.choice(("urban_management", "traffic_police", "fire")),
                    "handler": handler,
                    "lat": 30.7,
                    "lon": 111.3,
                    "description": "bench",
                    "reported_at": reported,
                    "deadline": now + timedelta(hours=rng.randint(-48, 72)),
                    "waiting_for": "someone",
                    "overdue": overdue,
                    "rework_count": 0,
                    "urge_count": 0,
                    "last_seq": 3,
                    "updated_at": now,
                }
            )
            kinds = ["filed", "dispatched"]
            roll = rng.random()
            if roll < 0.04:
                kinds.append("department_head_escalation")
            elif roll < 0.08:
                kinds.append("extension_granted")
            elif roll < 0.12:
                kinds.append("no_steward_available")
            else:
                kinds.append("accepted")
            for seq, kind in enumerate(kinds, 1):
                events.append(
                    {
                        "case_id": case_id,
                        "seq": seq,
                        "kind": kind,
                        "status": status,
                        "at": reported + timedelta(minutes=seq),
                        "evidence": [],
                        "data": {},
                    }
                )
            ids.append(case_id)
        async with sessions() as session, session.begin():
            await session.execute(insert(CaseRecord), records)
            await session.execute(insert(CaseEvent), events)
    return ids


async def settle(url: str) -> None:
    """VACUUM ANALYZE the projection, as autovacuum would have done in a running town
    (a bulk load leaves no statistics and, after an earlier run, dead rows)."""
    if not url.startswith("postgresql"):
        return
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        for table in ("case_record", "case_event"):
            await connection.execute(text(f"VACUUM ANALYZE {table}"))
    await engine.dispose()


async def accounts(sessions: SessionFactory, users: int) -> list[str]:
    names = []
    async with sessions() as session, session.begin():
        await session.execute(delete(WebSession).where(col(WebSession.username).like("bench-%")))
        await session.execute(delete(WebAccount).where(col(WebAccount.username).like("bench-%")))
    for n in range(users):
        name = f"bench-{n:02d}"
        scoped = n % 2 == 0
        grids = tuple(f"G{g:03d}" for g in range(1, 11)) if scoped else ()
        new = NewAccount(name, PASSWORD, "supervisor", name, None, grids, not scoped)
        await create_account(sessions, new)
        names.append(name)
    return names


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
        bucket = rng.choice(BUCKETS)
        query = f"bucket={bucket}" + (
            f"&grid_id=G{rng.randint(1, 10):03d}" if rng.random() < 0.3 else ""
        )
        for name, url in (
            ("queue", f"/web/queue?{query}"),
            ("case", f"/web/cases/{rng.choice(ids)}"),
        ):
            t0 = time.perf_counter()
            answer = await client.get(url)
            times[name].append((time.perf_counter() - t0) * 1000)
            assert answer.status_code in (200, 403), (url, answer.status_code)
            if think:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


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
    temporal_port, api_port = free_port(), free_port()
    env = await memory_dev_server(port=temporal_port)
    server = subprocess.Popen(  # noqa: ASYNC220  (once, before measuring)
        [str(BIN / "python"), "-m", "uvicorn", "api.main:app", "--port", str(api_port),
         "--workers", str(args.workers), "--log-level", "warning"],
        cwd=ROOT,
        env={
            **os.environ,
            "GRIDPLUS_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
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
        t0 = time.perf_counter()
        await asyncio.gather(
            *(user(c, ids, args.rounds, 100 + n, times, think) for n, c in enumerate(clients))
        )
        wall = time.perf_counter() - t0
        total = sum(len(v) for v in times.values())
        print(
            f"# {args.users} users x {args.rounds} rounds, {total} requests in {wall:.1f} s "
            f"({total / wall:.1f} req/s), uvicorn workers: {args.workers}, "
            f"think {args.think_ms} ms; load average {os.getloadavg()[0]:.1f} at the end"
        )
        print(f"{'page':<8} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name, values in times.items():
            print(
                f"{name:<8} {len(values):>6} {statistics.median(values):>8.1f} "
                f"{pct(values, 0.95):>8.1f} {pct(values, 0.99):>8.1f} {max(values):>8.1f}"
            )
        for client in clients:
            await client.aclose()
    finally:
        server.terminate()
        server.wait(30)
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
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(cli()))
