"""No credential reaches a log line.

The first test runs the API as production does (``python -m uvicorn api.main:app``, a
separate process on the suite's Temporal server and database), sends requests carrying a
board ``?token=``, an Open311 ``?api_key=`` and an ``Authorization`` header, and reads what
the process printed: uvicorn's access log must name the paths with the values redacted.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
import time
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from api.security import issue_token
from schemas.platform.common import Actor
from services.platform import log_redaction, observability
from services.platform.db import SessionFactory
from settings import Settings
from tools.devstack import wait_for_http
from tools.process_supervisor import free_port

ROOT = Path(__file__).resolve().parent.parent


async def test_uvicorn_access_log_redacts_tokens_and_api_keys(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, database_url: str
) -> None:
    """``sessions``: the database migrated and loaded, as the server process expects it."""
    secret = settings.api_token_secret.get_secret_value()
    board_token = issue_token(secret, Actor(role="supervisor", id="log-check"))
    api_key = "k3y-" + os.urandom(12).hex()
    port = free_port()
    environment = {
        **os.environ,
        "GRIDPLUS_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "GRIDPLUS_DATABASE_URL": database_url,
        "GRIDPLUS_API_TOKEN_SECRET": secret,
    }
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "uvicorn", "api.main:app", "--port", str(port)),
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not await wait_for_http(f"{base}/healthz", time.monotonic() + 60):
            assert server.stdout is not None
            raise AssertionError((await server.stdout.read()).decode())
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            page = await client.get("/supervisor", params={"token": board_token, "days": 7})
            assert page.status_code == 303  # a real sign-in: the token was read
            listed = await client.get("/open311/v2/requests.json", params={"api_key": api_key})
            assert listed.status_code == 200, listed.text
            await client.get("/cases", headers={"Authorization": f"Bearer {board_token}"})
    finally:
        if server.returncode is None:
            server.terminate()
        output, _ = await asyncio.wait_for(server.communicate(), timeout=30)
    printed = output.decode()
    assert "GET /supervisor?token=[REDACTED]&days=7" in printed, printed
    assert "GET /open311/v2/requests.json?api_key=[REDACTED]" in printed, printed
    assert board_token not in printed
    assert board_token.split(".")[1] not in printed  # not even the payload
    assert api_key not in printed


def test_every_record_is_redacted_in_message_arguments_and_traceback() -> None:
    """Through our JSON logs, from any logger, whatever the argument types."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    observability.configure_logging(stream=stream)
    try:
        log_through(logging.getLogger("tests.redaction"))
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    text = stream.getvalue()
    for leaked in ("URLSECRET", "HEADERSECRET", "DEVKEY", "PAYLOAD", "TRACESECRET"):
        assert leaked not in text, text
    assert lines[0]["message"] == (
        "HTTP Request: POST https://dept.example/hook?api_key=[REDACTED]&x=1 -> 200"
    )
    assert "token=[REDACTED]" in lines[-1]["exception"]


def log_through(log: logging.Logger) -> None:
    url = httpx.URL("https://dept.example/hook?api_key=URLSECRET&x=1")
    log.info("HTTP Request: %s %s -> %d", "POST", url, 200)
    log.warning("headers %s", {"authorization": "Bearer HEADERSECRET", "x-device-key": "DEVKEY"})
    log.info("X-Device-Key: DEVKEY2 and Authorization: Bearer gp1.PAYLOAD.SIG")
    try:
        raise RuntimeError("failed calling /supervisor?token=TRACESECRET")
    except RuntimeError:
        log.exception("boom")


def test_the_filter_redacts_for_log_configs_that_do_not_import_the_app() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/supervisor?token=abc.def", "1.1", 200), None,
    )  # fmt: skip
    assert log_redaction.RedactingFilter().filter(record) is True
    assert record.getMessage() == '127.0.0.1:5 - "GET /supervisor?token=[REDACTED] HTTP/1.1" 200'
