"""The API's CPU per detection through the lean door and through FastAPI's route, in one process.

``bench.device_intake`` measures the whole stack, where on a shared machine the CPU each
process is charged moves by a third from run to run. This one isolates the door: the real
app (``api.main.create_app``, lifespan, writer, key cache) over an in-process ASGI
transport, posts of detections below the confidence threshold (recorded only: no Temporal
call, so only the door, the key check, the validation and the group-commit write), 50 at a
time, rounds alternating between ``application/json`` (the lean door, ``api.device_lean``)
and ``application/merge-patch+json`` (which the lean door hands on to the FastAPI route).
Prints the process CPU per post for each door, per round and as the median; the client's
share (httpx) is in both alike.

Usage: ``python -m bench.device_door [--db-url URL] [--posts 2000] [--rounds 3]``; the
database is **emptied** (PostgreSQL) or a temporary SQLite file. No pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from api.main import create_app
from bench.device_fleet import PEPPER, register_fleet, reset
from bench.intake import machine
from bench.processes import memory_dev_server
from services.platform.geo import load_grid_index
from settings import Settings

BIN = Path(sys.executable).parent
DOORS = {"lean door": "application/json", "FastAPI route": "application/merge-patch+json"}


def body(n: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"d{n:09d}",
            "detection_type": "street_vendor",
            "confidence": 0.3,  # below the threshold: recorded, no case
            "detected_at": datetime.now(UTC).isoformat(),
            "snapshot_url": f"https://cams.example/door/{n}.jpg",
        }
    ).encode()


async def main(args: argparse.Namespace) -> None:
    print(f"# gridplus device door — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite+aiosqlite:///{tmp}/gridplus.db"
        print(f"# database: {url.split('@')[-1]}")
        sessions = await reset(url)
        grids = await load_grid_index(sessions)
        fleet = await register_fleet(sessions, grids, "DOOR", 50, 0)
        env = await memory_dev_server()
        settings = Settings(database_url=url, device_key_pepper=PEPPER, rate_limit_enabled=False)
        app = create_app(settings, temporal=env.client)
        spent: dict[str, list[float]] = {door: [] for door in DOORS}
        n = 0
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://gp") as api:

                    async def post(content_type: str) -> int:
                        nonlocal n
                        n += 1
                        device_id, key = fleet.cameras[n % len(fleet.cameras)]
                        answer = await api.post(
                            f"/devices/{device_id}/detections",
                            content=body(n),
                            headers={"X-Device-Key": key, "Content-Type": content_type},
                        )
                        return answer.status_code

                    for content_type in DOORS.values():  # warm-up: caches, connections
                        await asyncio.gather(*(post(content_type) for _ in range(200)))
                    for r in range(args.rounds):
                        for door, content_type in DOORS.items():
                            cpu = time.process_time()
                            statuses: list[int] = []
                            for _ in range(0, args.posts, 50):
                                statuses += await asyncio.gather(
                                    *(post(content_type) for _ in range(50))
                                )
                            ms = 1000 * (time.process_time() - cpu) / len(statuses)
                            spent[door].append(ms)
                            bad = len(statuses) - statuses.count(202)
                            print(
                                f"  round {r + 1}, {door}: {ms:.2f} ms CPU per post ({bad} not 202)"
                            )
        finally:
            await env.shutdown()
        lean, route = (statistics.median(spent[d]) for d in DOORS)
        print(
            f"median CPU per post: lean door {lean:.2f} ms, FastAPI route {route:.2f} ms "
            f"({route / lean:.2f}x); load average {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", default=None, help="emptied first! (default: SQLite file)")
    parser.add_argument("--posts", type=int, default=2000, help="per round and door")
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    os._exit(0)  # as bench.device_intake: skip the Temporal runtime's finalization
