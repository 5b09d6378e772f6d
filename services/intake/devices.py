"""The device registry: register cameras and sensors, and authenticate their posts.

A device authenticates with its own key (header ``X-Device-Key``) on a path that names it
(``/devices/{device_id}/...``): the key proves the id, so a device can only ever post as
itself. Keys are 32 random bytes minted here and shown once; only their HMAC-SHA256 under the
server's pepper is stored (``services.intake.device_keys``, which also says why no slow KDF).

CLI: ``python -m services.intake.devices register CAM-01 camera --lat 30.74 --lon 120.48`` (prints
the key once), ``... rotate-key CAM-01``, ``... deactivate CAM-01``.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from datetime import UTC, datetime
from typing import Literal

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.intake.devices import IntakeMap, default_intake_map
from schemas.intake.tables import Device
from schemas.platform.common import GeoPoint, Identifier
from services.intake.device_keys import DeviceAuthError as DeviceAuthError
from services.intake.device_keys import KeyCache, hash_key
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.geo import GridIndex, load_grid_index

MIN_KEY_LENGTH = 24
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


class DeviceError(ValueError):
    """A registration that cannot be done (bad id, unknown sensor type, outside the town)."""


def _pepper(pepper: str | None) -> str:
    from settings import get_settings

    return pepper if pepper is not None else get_settings().device_key_pepper.get_secret_value()


def new_key() -> str:
    """A fresh device key: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def _check(
    device_id: str,
    kind: str,
    sensor_type: str | None,
    at: GeoPoint,
    grids: GridIndex,
    mapping: IntakeMap,
) -> str:
    try:
        _IDENTIFIER.validate_python(device_id)
    except ValidationError as error:
        raise DeviceError(f"invalid device id {device_id!r}") from error
    if kind == "camera" and sensor_type is not None:
        raise DeviceError("a camera has no sensor type")
    if kind == "sensor" and sensor_type not in mapping.sensor_types:
        known = ", ".join(sorted(mapping.sensor_types))
        raise DeviceError(f"unknown sensor type {sensor_type!r} (known: {known})")
    if kind not in ("camera", "sensor"):
        raise DeviceError(f"unknown device kind {kind!r}")
    hit = grids.locate(at.lat, at.lon)
    if hit is None:
        raise DeviceError("the device is mounted outside every grid of the town")
    return hit.grid_id


async def register_device(
    sessions: SessionFactory,
    grids: GridIndex,
    device_id: str,
    kind: Literal["camera", "sensor"],
    at: GeoPoint,
    *,
    sensor_type: str | None = None,
    label: str = "",
    key: str | None = None,
    synthetic: bool = False,
    replace: bool = False,
    enterprise_id: str | None = None,
    pepper: str | None = None,
) -> str:
    """Register (or with ``replace`` re-register) a device; returns its key, shown once.

    ``enterprise_id`` binds it to the enterprise it watches: the only one whose operations
    it may report (``bound_to``)."""
    grid_id = _check(device_id, kind, sensor_type, at, grids, default_intake_map())
    key = key or new_key()
    if len(key) < MIN_KEY_LENGTH:
        raise DeviceError(f"a device key needs at least {MIN_KEY_LENGTH} characters")
    async with sessions() as session, session.begin():
        existing = await session.get(Device, device_id)
        if existing is not None and not replace:
            raise DeviceError(f"device {device_id} is already registered")
        row = existing or Device(
            id=device_id, kind=kind, lat=at.lat, lon=at.lon, grid_id="", key_hash=""
        )
        row.kind, row.sensor_type, row.label = kind, sensor_type, label[:120]
        row.lat, row.lon, row.grid_id = at.lat, at.lon, grid_id
        row.key_hash, row.active = hash_key(key, _pepper(pepper)), True
        row.synthetic = synthetic
        row.enterprise_id = enterprise_id
        row.created_at = row.created_at or datetime.now(UTC)
        session.add(row)
    return key


async def rotate_key(sessions: SessionFactory, device_id: str, pepper: str | None = None) -> str:
    """A new key for a device (the old one stops working at once); returns it."""
    key = new_key()
    async with sessions() as session, session.begin():
        row = await session.get(Device, device_id)
        if row is None:
            raise DeviceError(f"no device {device_id}")
        row.key_hash = hash_key(key, _pepper(pepper))
    return key


async def set_active(sessions: SessionFactory, device_id: str, active: bool) -> None:
    """Switch a device off (a stolen or broken camera) or back on."""
    async with sessions() as session, session.begin():
        row = await session.get(Device, device_id)
        if row is None:
            raise DeviceError(f"no device {device_id}")
        row.active = active


async def authenticate(
    sessions: SessionFactory, device_id: str, key: str, pepper: str | None = None
) -> Device:
    """The registered, active device whose key this is; ``DeviceAuthError`` otherwise (no
    cache: the API holds a ``KeyCache`` for its lifetime)."""
    return await KeyCache(_pepper(pepper), seconds=0).authenticate(sessions, device_id, key)


class DeviceNotBound(Exception):
    """A device reporting on an enterprise it is not bound to (HTTP 403, naming the binding)."""


async def bound_to(session: AsyncSession, device_id: str, enterprise_id: str) -> Device:
    """The registered, active device, if it is bound to ``enterprise_id``; else
    ``DeviceNotBound`` saying what it is bound to. A device token alone proves only the
    device's id: without this, any device could file observations (which become findings
    at the next inspection) for any enterprise."""
    row = await session.get(Device, device_id)
    if row is None or not row.active:
        raise DeviceNotBound(f"device {device_id} is not a registered, active device")
    if row.enterprise_id != enterprise_id:
        bound = f"enterprise {row.enterprise_id}" if row.enterprise_id else f"grid {row.grid_id}"
        raise DeviceNotBound(
            f"device {device_id} is bound to {bound}, not to enterprise {enterprise_id}"
        )
    return row


async def _run(args: argparse.Namespace) -> str:
    from settings import get_settings

    engine = make_engine(args.url or get_settings().database_url)
    sessions = make_session_factory(engine)
    try:
        if args.command == "register":
            grids = await load_grid_index(sessions)
            at = GeoPoint(lat=args.lat, lon=args.lon)
            key = await register_device(
                sessions,
                grids,
                args.device_id,
                args.kind,
                at,
                sensor_type=args.sensor_type,
                label=args.label,
                replace=args.replace,
                enterprise_id=args.enterprise,
            )
            return f"registered {args.device_id}; its key (shown once): {key}"
        if args.command == "rotate-key":
            key = await rotate_key(sessions, args.device_id)
            return f"new key for {args.device_id} (shown once): {key}"
        await set_active(sessions, args.device_id, args.command == "activate")
        return f"{args.device_id} {args.command}d"
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Register and manage cameras and sensors.")
    parser.add_argument("--url", default=None, help="database URL (default: settings)")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="register a device and print its key")
    reg.add_argument("device_id")
    reg.add_argument("kind", choices=["camera", "sensor"])
    reg.add_argument("--lat", type=float, required=True)
    reg.add_argument("--lon", type=float, required=True)
    reg.add_argument("--sensor-type", default=None)
    reg.add_argument("--label", default="")
    reg.add_argument("--enterprise", default=None, help="the enterprise it watches (binds it)")
    reg.add_argument("--replace", action="store_true", help="re-register (new key)")
    for name in ("rotate-key", "deactivate", "activate"):
        sub.add_parser(name).add_argument("device_id")
    args = parser.parse_args(argv)
    try:
        print(asyncio.run(_run(args)))
    except DeviceError as error:
        parser.exit(2, f"error: {error}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
