"""The real API on a loopback port with its attachments in a folder of the test's own, and
the helpers that upload through it (``tests/test_attachment_api.py``, ``test_bot_report``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import text
from temporalio.client import Client

from api.main import create_app
from services.platform.db import SessionFactory
from settings import Settings
from tests.attachment_support import multipart_files


@asynccontextmanager
async def api_server(
    settings: Settings, temporal: Client, sessions: SessionFactory
) -> AsyncIterator[str]:
    """``create_app`` under uvicorn in this event loop; yields its base URL."""
    app = create_app(settings, temporal=temporal, sessions=sessions)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def upload(
    http: httpx.AsyncClient,
    base: str,
    headers: dict[str, str],
    files: list[tuple[str, bytes, str]],
    purpose: str = "report",
) -> httpx.Response:
    return await http.post(
        f"{base}/attachments",
        params={"purpose": purpose},
        files=multipart_files(files),
        headers=headers,
        timeout=60,
    )


async def rows_by(sessions: SessionFactory, uploader: str) -> list[dict[str, Any]]:
    async with sessions() as session:
        found = await session.execute(
            text("SELECT * FROM attachment WHERE uploaded_by = :u ORDER BY uploaded_at"),
            {"u": uploader},
        )
        return [dict(row._mapping) for row in found]


def store_settings(settings: Settings, root: Path, **extra: Any) -> Settings:
    return settings.model_copy(update={"attachments_dir": root, **extra})
