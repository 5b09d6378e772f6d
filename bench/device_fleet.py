"""The device benchmark's fleet, its realistic mix of posts, and the database's counts.

Split from ``bench.device_intake`` (which runs them): 200 cameras and 50 sensors registered
with the benchmark's pepper, the next post of the mix (87 % into open scenes, 10 % below
threshold, 1.5 % new scenes, 1.5 % sensor alarms), and what the database says afterwards
(counts, and the coalescer's steady state in a window); ``reset`` empties and prepares it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text

from schemas.platform.common import GeoPoint
from services.intake.devices import register_device
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.geo import GridIndex
from services.platform.migrate import upgrade
from tools.demo_data import build_town, load_demo_data

PEPPER = "bench-pepper-0f3a9c2e7b5d8e1f4a6c9b2d5e8f1a4c"
SENSOR_TYPES = ("smoke_detector", "manhole_cover", "water_gate", "street_lamp", "public_toilet")


@dataclass
class Fleet:
    tag: str
    cameras: list[tuple[str, str]]
    sensors: list[tuple[str, str]]


async def register_fleet(
    sessions: SessionFactory, grids: GridIndex, tag: str, cameras: int, sensors: int
) -> Fleet:
    """Cameras and sensors spread over the town's grids (a few metres apart in each)."""
    points = []
    for gid in grids.grid_ids:
        grid = grids.grid(gid)
        assert grid is not None
        points.append((grid.centroid_lat, grid.centroid_lon))
    fleet = Fleet(tag, [], [])
    for i in range(cameras + sensors):
        lat, lon = points[i % len(points)]
        at = GeoPoint(lat=lat + 0.00005 * (i // len(points)), lon=lon)
        sensor = i >= cameras
        device_id = f"{tag}-{'S' if sensor else 'C'}{i:04d}"
        key = await register_device(
            sessions, grids, device_id, "sensor" if sensor else "camera", at,
            sensor_type=SENSOR_TYPES[i % len(SENSOR_TYPES)] if sensor else None, pepper=PEPPER,
        )  # fmt: skip
        (fleet.sensors if sensor else fleet.cameras).append((device_id, key))
    return fleet


class Mix:
    """The next post of the realistic mix; remembers the scenes it touched above threshold."""

    def __init__(self, fleet: Fleet, seed: int = 7) -> None:
        self.fleet, self.rnd, self.n = fleet, random.Random(seed), 0
        self.scenes: set[str] = set()  # scenes above threshold with an accepted post
        self.scene: str | None = None  # the scene of the post just made
        # what the post just made is: "open scene" and "below threshold" are the database
        # path; "new scene" waits for its case's start, "sensor alarm" for its case's workflow
        self.kind = "open scene"

    def _camera(self, device_id: str, kind: str, conf: float, plate: str | None) -> bytes:
        body = {
            "event_id": f"e{self.n:08d}",
            "detection_type": kind,
            "confidence": conf,
            "detected_at": datetime.now(UTC).isoformat(),
            "snapshot_url": f"https://cams.example/{device_id}/{self.n}.jpg",
        }
        if plate:
            body["plate"] = plate
        self.scene = f"{device_id}:{kind}:{plate}" if conf >= 0.9 else None
        return json.dumps(body).encode()

    def opening(self, i: int) -> tuple[str, str, bytes]:
        self.n += 1
        device_id, key = self.fleet.cameras[i]
        body = self._camera(device_id, "illegal_parking", 0.92, None)
        return f"/devices/{device_id}/detections", key, body

    def next(self) -> tuple[str, str, bytes]:
        self.n += 1
        r = self.rnd.random()
        if r < 0.015:
            device_id, key = self.rnd.choice(self.fleet.sensors)
            body = {"event_id": f"e{self.n:08d}", "event": "alarm"}
            body["occurred_at"] = datetime.now(UTC).isoformat()
            self.scene, self.kind = device_id, "sensor alarm"
            return f"/devices/{device_id}/events", key, json.dumps(body).encode()
        device_id, key = self.rnd.choice(self.fleet.cameras)
        path = f"/devices/{device_id}/detections"
        self.kind = "new scene" if r < 0.03 else "below threshold" if r < 0.13 else "open scene"
        if r < 0.03:  # a new scene: a red-light camera sees a car it has not seen
            return path, key, self._camera(device_id, "red_light_running", 0.95, f"B{self.n:07d}")
        if r < 0.13:
            return path, key, self._camera(device_id, "street_vendor", 0.3, None)
        return path, key, self._camera(device_id, "illegal_parking", 0.92, None)


async def reset(url: str) -> SessionFactory:
    """An empty, migrated database with the synthetic town (stewards on duty)."""
    if url.startswith("postgresql"):
        engine = make_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    await upgrade(url)
    sessions = make_session_factory(make_engine(url))
    await load_demo_data(sessions, build_town(seed=17, stewards=400))
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE steward SET duty_state='on_duty', capacity=100000, location_at=:n"),
            {"n": datetime.now(UTC)},
        )
    return sessions


async def count(sessions: SessionFactory, sql: str, **params: object) -> int:
    async with sessions() as session:
        return int((await session.execute(text(sql), params)).scalar_one())


async def settle(sessions: SessionFactory, tag: str) -> dict[str, int]:
    """Wait for the coalescer and the projection to catch up; then the database's counts."""
    like = {"p": f"{tag}-%"}
    pending = "SELECT count(*) FROM detection WHERE pending AND device_id LIKE :p"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # polling the database: no event to wait on
        if not await count(sessions, pending, **like):
            break
        await asyncio.sleep(0.5)
    cases = "SELECT DISTINCT case_id FROM detection WHERE device_id LIKE :p AND case_id IS NOT NULL"
    updates = (
        f"SELECT count(*) FROM case_event WHERE kind = 'evidence_added' AND case_id IN ({cases})"
    )
    previous = -1
    while time.monotonic() < deadline:  # the projection of the last updates
        current = await count(sessions, updates, **like)
        if current == previous:
            break
        previous = current
        await asyncio.sleep(2)
    recorded = "SELECT count(*) FROM detection WHERE device_id LIKE :p"
    return {
        "recorded": await count(sessions, recorded, **like),
        "in_cases": await count(sessions, recorded + " AND case_id IS NOT NULL", **like),
        "cases": await count(
            sessions, f"SELECT count(*) FROM case_record WHERE case_id IN ({cases})", **like
        ),
        "pending": await count(sessions, pending, **like),
        "updates": previous,
    }


async def at_rest(sessions: SessionFactory, tag: str, expected: int) -> None:
    """Until the scenes just opened are filed and dispatched (the worker is idle again)."""
    sql = (
        "SELECT count(*) FROM case_record WHERE status IN ('dispatched', 'escalated') AND "
        "case_id IN (SELECT case_id FROM detection WHERE device_id LIKE :p)"
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if await count(sessions, sql, p=f"{tag}-%") >= expected:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1)


async def steady_updates(
    sessions: SessionFactory, tag: str, since: datetime, until: datetime
) -> dict[str, float]:
    """Temporal updates per merged detection within ``[since, until)``, cameras and sensors
    apart, and the gaps between one case's updates (the coalescer's interval per case).

    Counted in a window of a long constant-rate step, once the flushes are in their rhythm:
    rows received before the window and sent in it stand for rows received in it and sent
    after it. A detection that opened a case started it (its evidence is the filing's): every
    ``evidence_added`` is a merge's update. Call after ``settle`` (every update of the
    window projected)."""
    params = {"p": f"{tag}-%", "a": since, "b": until}

    async def scalar(sql: str, **extra: object) -> int:
        return await count(sessions, sql, **(params | extra))

    out: dict[str, float] = {}
    for label, kinds in (("camera", "('detection')"), ("sensor", "('alarm', 'recovery')")):
        own = f"device_id LIKE :p AND kind IN {kinds} AND received_at >= :a AND received_at < :b"
        cases = (
            "SELECT DISTINCT case_id FROM detection "
            f"WHERE device_id LIKE :p AND kind IN {kinds} AND case_id IS NOT NULL"
        )
        events = (
            "FROM case_event WHERE kind = 'evidence_added' AND at >= :a AND at < :b "
            f"AND case_id IN ({cases})"
        )
        merged = await scalar(
            f"SELECT count(*) FROM detection WHERE {own} AND case_id IS NOT NULL "
            "AND outcome <> 'opened'"
        )
        updates = await scalar(f"SELECT count(*) {events}")
        out[f"{label}_updates"], out[f"{label}_merged"] = updates, merged
        if label == "camera":
            async with sessions() as session:
                rows = (
                    await session.execute(
                        text(f"SELECT case_id, at {events} ORDER BY case_id, at"), params
                    )
                ).all()
            gaps: list[float] = []
            last: dict[str, datetime] = {}
            for case_id, at in rows:
                if case_id in last:
                    gaps.append((at - last[case_id]).total_seconds())
                last[case_id] = at
            gaps.sort()
            out["gap_min"] = gaps[0] if gaps else 0.0
            out["gap_p50"] = gaps[len(gaps) // 2] if gaps else 0.0
    return out


async def steady_line(sessions: SessionFactory, tag: str, since: datetime, until: datetime) -> str:
    """``steady_updates`` as the benchmark prints it."""
    s = await steady_updates(sessions, tag, since, until)
    total = (s["camera_updates"] + s["sensor_updates"]) / max(
        1, s["camera_merged"] + s["sensor_merged"]
    )
    return (
        f"steady state ({(until - since).total_seconds():.0f} s window): "
        f"Temporal updates per merged detection {total:.3f}; cameras "
        f"{s['camera_updates']:.0f} for {s['camera_merged']:.0f} = "
        f"{s['camera_updates'] / max(1, s['camera_merged']):.3f}, sensors "
        f"{s['sensor_updates']:.0f} for {s['sensor_merged']:.0f}; seconds between one "
        f"case's updates: min {s['gap_min']:.1f}, median {s['gap_p50']:.1f}"
    )
