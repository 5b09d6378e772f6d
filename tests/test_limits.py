"""Every public intake door refuses an oversized body with 413, before buffering it whole.

Checked both with a declared ``Content-Length`` (refused before reading) and with a chunked
upload that has none (refused as soon as the chunks pass the cap). The answer is the problem
shape (``error: too_large``), or on Open311 the GeoReport ``errors`` document its clients parse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from api.body_limit import MAX_BODY_BYTES
from api.routers.stewards import MAX_IMPORT_BYTES
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import device
from tests.security_support import Api, bearer, limited_api, signed, token

__all__ = ["limited_api"]  # the module's "api" fixture, imported

CHUNK = 16 * 1024


@dataclass(frozen=True)
class Door:
    """An intake endpoint, its cap, and the credentials a real caller would send."""

    name: str
    path: str
    cap: int
    content_type: str
    headers: Callable[[Settings, bytes], dict[str, str]]
    spec_errors: bool = False  # Open311 answers in its own error format


def _bearer(role: str) -> Callable[[Settings, bytes], dict[str, str]]:
    return lambda settings, _: bearer(settings, role, f"{role}-limits")  # type: ignore[arg-type]


DEVICE_PATH = "/devices/{device}/"
DOORS = [
    Door("cases", "/cases", MAX_BODY_BYTES, "application/json", _bearer("steward")),
    Door("detections", DEVICE_PATH + "detections", MAX_BODY_BYTES, "application/json",
         lambda *_: {}),
    Door("events", DEVICE_PATH + "events", MAX_BODY_BYTES, "application/json", lambda *_: {}),
    Door("open311", "/open311/v2/requests.json", MAX_BODY_BYTES,
         "application/x-www-form-urlencoded", lambda *_: {}, spec_errors=True),
    Door("bot-callback", "/bot/callback", MAX_BODY_BYTES, "application/json",
         lambda settings, body: signed(settings, body)),
    Door("bot-presence", "/bot/presence", MAX_BODY_BYTES, "application/json",
         lambda settings, body: signed(settings, body)),
    Door("steward-import", "/stewards/import", MAX_IMPORT_BYTES, "text/csv",
         _bearer("supervisor")),
]  # fmt: skip


@pytest.fixture(scope="module")
async def camera(sessions: SessionFactory, grids: GridIndex) -> tuple[str, str]:
    dev = await device(sessions, grids, "G030")
    return dev.id, dev.key


def _request(door: Door, settings: Settings, camera: tuple[str, str], body: bytes) -> tuple[
    str, dict[str, str]
]:  # fmt: skip
    headers = {"content-type": door.content_type, **door.headers(settings, body)}
    if door.path.startswith(DEVICE_PATH):
        headers["X-Device-Key"] = camera[1]
    return door.path.replace("{device}", camera[0]), headers


def _oversized(door: Door, settings: Settings, over: int = 1) -> bytes:
    """A well-formed body ``over`` bytes over the cap (form bodies carry a real api_key)."""
    size = door.cap + over
    if door.spec_errors:
        prefix = f"api_key={token(settings, 'system', 'limits')}&description=".encode()
        return prefix + b"x" * (size - len(prefix))
    if door.content_type == "text/csv":
        header = b"id,name,grid_id,industry\n"
        return header + b"S9999,x,G001,taxi\n" * ((size - len(header)) // 18 + 1)
    prefix, suffix = b'{"description":"', b'"}'
    return prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix


def _assert_too_large(door: Door, response: httpx.Response) -> None:
    assert response.status_code == 413, (door.name, response.status_code, response.text[:300])
    if door.spec_errors:
        assert response.json() == [{"code": 413, "description": response.json()[0]["description"]}]
        assert "bytes" in response.json()[0]["description"]
    else:
        problem = response.json()
        assert problem["error"] == "too_large", problem
        assert set(problem) == {"error", "message", "fields"}


@pytest.mark.parametrize("door", DOORS, ids=[d.name for d in DOORS])
async def test_declared_oversized_body_is_refused_with_413(
    api: Api, settings: Settings, camera: tuple[str, str], door: Door
) -> None:
    body = _oversized(door, settings)
    assert len(body) > door.cap
    path, headers = _request(door, settings, camera, body)
    response = await api.client.post(path, content=body, headers=headers)
    _assert_too_large(door, response)


@pytest.mark.parametrize("door", DOORS, ids=[d.name for d in DOORS])
async def test_chunked_oversized_body_is_refused_with_413(
    api: Api, settings: Settings, camera: tuple[str, str], door: Door
) -> None:
    """No Content-Length: the cap holds while the chunks stream in."""
    body = _oversized(door, settings, over=8 * CHUNK)
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), CHUNK):
            sent.append(len(body[start : start + CHUNK]))
            yield body[start : start + CHUNK]

    path, headers = _request(door, settings, camera, body)
    response = await api.client.post(path, content=chunks(), headers=headers)
    _assert_too_large(door, response)
    assert sum(sent) <= door.cap + 2 * CHUNK < len(body)  # refused mid-stream, not after it all


@pytest.mark.parametrize("door", DOORS, ids=[d.name for d in DOORS])
async def test_a_body_under_the_cap_is_not_refused_for_its_size(
    api: Api, settings: Settings, camera: tuple[str, str], door: Door
) -> None:
    body = b"[]" if door.content_type == "text/csv" else b"{}"
    if door.spec_errors:
        body = b"description=" + b"x" * 1000
    path, headers = _request(door, settings, camera, body)
    if door.content_type == "text/csv":
        headers["content-type"] = "application/json"
    response = await api.client.post(path, content=body, headers=headers)
    assert response.status_code != 413, (door.name, response.text[:300])
    assert response.status_code < 500, (door.name, response.text[:300])
