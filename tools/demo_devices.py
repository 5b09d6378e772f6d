"""SYNTHETIC demo devices (a few cameras and one sensor of each type) for `make run` and tests.

Devices are placed near grid centroids of the demo town and get *published* keys
(``dev-only-device-key-<id>``) so that a demo or a script can post as them. Those keys are
for the synthetic demo only: never load these devices into a real town's registry.

``load_demo_devices`` is idempotent (it re-registers the same rows and keys) and returns
each device with its key. ``python -m tools.demo_devices [--url URL]`` loads them.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import Literal

from schemas.platform.common import GeoPoint
from services.intake.devices import register_device
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.geo import GridIndex, load_grid_index

DEMO_KEY_PREFIX = "dev-only-device-key-"


@dataclass(frozen=True)
class DemoDevice:
    """One demo device and the key to post as it."""

    id: str
    kind: Literal["camera", "sensor"]
    sensor_type: str | None
    grid_id: str
    label: str
    at: GeoPoint
    key: str
    enterprise_id: str | None = None  # bound to it: the only enterprise it reports on


# (id, kind, sensor type, grid, label, metres east of the grid's centroid)
SPECS: tuple[tuple[str, Literal["camera", "sensor"], str | None, str, str, float], ...] = (
    ("CAM-G017-01", "camera", None, "G017", "pilot community, main gate", 0.0),
    ("CAM-G040-01", "camera", None, "G040", "crossroads, red-light camera", 40.0),
    ("CAM-G012-01", "camera", None, "G012", "market street", -30.0),
    ("CAM-G050-01", "camera", None, "G050", "school fire lane", 25.0),
    ("SMK-G017-01", "sensor", "smoke_detector", "G017", "elderly home kitchen", 60.0),
    ("MHC-G040-01", "sensor", "manhole_cover", "G040", "manhole by the bridge", -50.0),
    ("WGT-G060-01", "sensor", "water_gate", "G060", "west canal gate", 10.0),
    ("LMP-G030-01", "sensor", "street_lamp", "G030", "lamp post 30-07", 15.0),
    ("WC-G017-01", "sensor", "public_toilet", "G017", "public toilet by the square", -20.0),
)
# Cameras an enterprise runs, bound to it (``POST /enterprises/{id}/observations`` refuses
# any other device): (id, enterprise, its grid in the demo town, label).
ENTERPRISE_CAMERAS: tuple[tuple[str, str, str, str], ...] = (
    ("CAM-E0001-01", "E0001", "G065", "E0001 warehouse, hot-work bay"),
)


def demo_devices(grids: GridIndex) -> list[DemoDevice]:
    """The demo devices of the demo town (deterministic: same ids, places and keys)."""
    result = []
    for device_id, kind, sensor_type, grid_id, label, east_m in SPECS:
        grid = grids.grid(grid_id)
        if grid is None:
            raise ValueError(f"demo device {device_id}: no grid {grid_id} (load the demo town)")
        at = GeoPoint(lat=grid.centroid_lat, lon=grid.centroid_lon + east_m / 95_700)
        key = DEMO_KEY_PREFIX + device_id
        result.append(DemoDevice(device_id, kind, sensor_type, grid_id, label, at, key))
    for device_id, enterprise_id, grid_id, label in ENTERPRISE_CAMERAS:
        grid = grids.grid(grid_id)
        if grid is None:
            raise ValueError(f"demo device {device_id}: no grid {grid_id} (load the demo town)")
        at = GeoPoint(lat=grid.centroid_lat, lon=grid.centroid_lon)
        key = DEMO_KEY_PREFIX + device_id
        result.append(DemoDevice(device_id, "camera", None, grid_id, label, at, key, enterprise_id))
    return result


async def load_demo_devices(sessions: SessionFactory, grids: GridIndex) -> list[DemoDevice]:
    """Register (or re-register) every demo device; returns them with their keys."""
    devices = demo_devices(grids)
    for device in devices:
        await register_device(
            sessions,
            grids,
            device.id,
            device.kind,
            device.at,
            sensor_type=device.sensor_type,
            label=device.label,
            key=device.key,
            synthetic=True,
            replace=True,
            enterprise_id=device.enterprise_id,
        )
    return devices


async def _run(url: str) -> None:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    try:
        for device in await load_demo_devices(sessions, await load_grid_index(sessions)):
            print(f"{device.id:12} {device.kind:6} {device.sensor_type or '':15} {device.grid_id}")
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    from settings import get_settings

    parser = argparse.ArgumentParser(description="Load the SYNTHETIC demo cameras and sensors.")
    parser.add_argument("--url", default=None, help="database URL (default: settings)")
    args = parser.parse_args(argv)
    asyncio.run(_run(args.url or get_settings().database_url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
