"""One body cap for every route, before authentication, and a timeout for stalled uploads.

Routes that had no cap (``/inspections``, ``/campaigns``, ``/rectifications``,
``/enterprises``) read and parsed any body before looking at the token. Here the body is a
lazy 200 MB generator: the test counts what the server pulled from it, so nothing near
200 MB is ever produced. The stall and the declared length are checked against a real
uvicorn server on loopback with a raw socket, as an attacker would send them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from api.body_limit import MAX_BODY_BYTES
from api.main import create_app
from services.platform.db import SessionFactory
from settings import Settings
from tests.security_support import Api, unlimited_api
from tools.process_supervisor import free_port

__all__ = ["unlimited_api"]  # the module's "api" fixture, imported

CHUNK = 16 * 1024
NOMINAL = 200 * 1024 * 1024  # what the client claims to be sending
STALL_TIMEOUT = 1.0

# every router that had no cap, plus one that had (all refuse before the token check)
UNCAPPED = [
    "/inspections",
    "/campaigns",
    "/inspections/I-1/results",
    "/rectifications/R-1/reinspection",
    "/enterprises/ET-1/records",
    "/enterprises/ET-1/rectifications/R-1/proof",
    "/cases",
]


@pytest.mark.parametrize("path", UNCAPPED)
async def test_a_200_mb_upload_without_a_token_is_cut_off_at_the_cap(api: Api, path: str) -> None:
    pulled: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        yield b'{"reason": "'
        for _ in range(NOMINAL // CHUNK):
            pulled.append(CHUNK)
            yield b"x" * CHUNK

    headers = {"content-type": "application/json"}  # chunked: no Content-Length, no token
    response = await api.client.post(path, content=endless(), headers=headers)
    assert response.status_code == 413, response.text[:300]
    problem = response.json()
    assert problem["error"] == "too_large"
    assert str(MAX_BODY_BYTES) in problem["message"]  # names the limit
    assert sum(pulled) <= MAX_BODY_BYTES + 2 * CHUNK  # stopped reading at the cap


@asynccontextmanager
async def served(app_settings: Settings, env: WorkflowEnvironment, sessions: SessionFactory) -> (
    AsyncIterator[int]
):  # fmt: skip
    """The app behind a real uvicorn on a free loopback port (its own lifespan)."""
    app = create_app(app_settings, temporal=env.client, sessions=sessions)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture(scope="module")
async def port(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[int]:
    quick = settings.model_copy(update={"body_timeout_seconds": STALL_TIMEOUT})
    async with served(quick, env, sessions) as bound:
        yield bound


def _head(path: str, length: int) -> Iterator[bytes]:
    yield f"POST {path} HTTP/1.1\r\n".encode()
    yield b"Host: gridplus\r\nContent-Type: application/json\r\n"
    yield f"Content-Length: {length}\r\n\r\n".encode()


async def _exchange(port: int, request: bytes, wait: float) -> tuple[int, bytes, float]:
    """Send ``request`` and read the answer: its status, body and the seconds it took."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = loop.time()
    try:
        writer.write(request)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), wait)
        rest = await asyncio.wait_for(reader.read(65536), wait)
    finally:
        writer.close()
    return int(status_line.split()[1]), rest, loop.time() - started


async def test_a_declared_200_mb_body_is_refused_before_a_byte_is_sent(port: int) -> None:
    status, body, took = await _exchange(port, b"".join(_head("/inspections", NOMINAL)), 5.0)
    assert status == 413
    assert str(MAX_BODY_BYTES).encode() in body
    assert took < STALL_TIMEOUT  # answered at once, not after waiting for the body


@pytest.mark.parametrize("path", ["/inspections", "/cases", "/open311/v2/requests.json"])
async def test_a_stalled_upload_times_out_with_408(port: int, path: str) -> None:
    """Headers and a few bytes of a 100-byte body, then nothing: 408 after the timeout."""
    request = b"".join(_head(path, 100)) + b'{"enterprise'
    status, body, took = await _exchange(port, request, 5 * STALL_TIMEOUT)
    assert status == 408, body
    assert STALL_TIMEOUT * 0.9 <= took < 4 * STALL_TIMEOUT
    assert b"within" in body
