"""Issue 12 item 11: ``docs/integration.md`` is true, because its examples run here.

Every ` ```python ` block of the document runs, in order, in one namespace (as a reader would
paste them into one Python session), in a thread, against a running stack: the real API
served by uvicorn on a loopback port, the production worker on the Temporal test server,
the test database, and the document's own gateway (a stdlib HTTP server the examples start)
as ``GRIDPLUS_BOT_GATEWAY_URL``. Tokens are minted and a device registered through the
command lines the document shows. The blocks assert what they claim; this test then checks
the document against the code's own lists (message kinds, button actions, answers), so a new
kind or action fails here until the document describes it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from schemas.cases.dispatch import DepartmentMessageKind, StewardMessageKind
from schemas.platform.common import GeoPoint, Role
from schemas.stewards.bot import BotAction, BotCallback, BotResult, PresenceEvent
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import place_stewards
from tools.process_supervisor import free_port
from worker import build_worker

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "integration.md"
SECRET = "integration-doc-bot-secret"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def blocks(language: str) -> list[tuple[int, str]]:
    """(line number, code) of every fenced block in ``language``, in document order."""
    text = DOC.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 2, m.group(2))
        for m in FENCE.finditer(text)
        if m.group(1) == language
    ]


def table_rows(values: tuple[str, ...]) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return [v for v in values if f"| `{v}` |" not in text]


def test_every_message_kind_has_a_row_with_an_example() -> None:
    """A new ``StewardMessageKind`` or ``DepartmentMessageKind`` needs its row in the doc."""
    assert table_rows(get_args(StewardMessageKind)) == []
    assert table_rows(get_args(DepartmentMessageKind)) == []


def test_every_action_answer_field_and_role_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    presence_kinds = get_args(PresenceEvent.model_fields["kind"].annotation)
    listed = (*get_args(BotAction), *get_args(BotResult), *presence_kinds, *get_args(Role))
    assert [v for v in listed if f"`{v}`" not in text] == []
    assert [f for f in BotCallback.model_fields if f"`{f}`" not in text] == []
    for header in ("X-Gridplus-Timestamp", "X-Gridplus-Signature", "Idempotency-Key"):
        assert header in text
    assert "v1:{timestamp}:{raw body bytes}" in text and "GRIDPLUS_BOT_GATEWAY_URL" in text


@pytest.fixture
async def doc_stack(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    settings: Settings,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> AsyncIterator[tuple[str, Settings, int]]:
    """API (uvicorn, loopback) + worker, both pointed at the document's gateway port."""
    port = free_port()
    gateway = f"http://127.0.0.1:{port}/messages"
    doc_settings = settings.model_copy(
        update={
            "bot_gateway_url": gateway,
            "department_gateway_url": gateway,
            "bot_secret": SecretStr(SECRET),
            "attachments_dir": tmp_path / "attachments",  # the photos the examples upload
        }
    )
    app = create_app(doc_settings, temporal=env.client, sessions=sessions)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    api_port = server.servers[0].sockets[0].getsockname()[1]
    worker = build_worker(env.client, sessions, http, doc_settings, task_queue=settings.task_queue)
    async with worker:
        yield f"http://127.0.0.1:{api_port}", doc_settings, port
    server.should_exit = True
    await asyncio.wait_for(serving, 30)


@pytest.mark.usefixtures("off_duty")
async def test_the_documents_examples_run_against_the_stack(
    doc_stack: tuple[str, Settings, int],
    database_url: str,
    sessions: SessionFactory,
    grids: GridIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_url, doc_settings, gateway_port = doc_stack
    await place_stewards(sessions, grids, GeoPoint(lat=30.745, lon=120.487), 3)
    monkeypatch.chdir(ROOT)  # the examples run the command lines from the repository root
    monkeypatch.setenv("GRIDPLUS_API", api_url)
    monkeypatch.setenv("GRIDPLUS_BOT_SECRET", SECRET)
    monkeypatch.setenv("GRIDPLUS_DOC_GATEWAY_PORT", str(gateway_port))
    monkeypatch.setenv("GRIDPLUS_DATABASE_URL", database_url)
    token_secret = doc_settings.api_token_secret.get_secret_value()
    monkeypatch.setenv("GRIDPLUS_API_TOKEN_SECRET", token_secret)

    namespace: dict[str, Any] = {"__name__": "integration_doc"}
    examples = blocks("python")
    assert len(examples) >= 7
    try:
        for line, code in examples:
            compiled = compile(code, f"{DOC}:{line}", "exec")
            await asyncio.to_thread(exec, compiled, namespace)
    finally:
        if "gateway" in namespace:
            namespace["gateway"].server_close()

    # the payload the document shows is the payload a gateway really gets
    task = namespace["task"]
    shown = json.loads(blocks("json")[0][1])
    assert set(shown) == set(task), "docs/integration.md: the steward message fields changed"
    assert task["message_id"].startswith(task["case_id"]) and task["kind"] == "new_task"
    department_shown = json.loads(blocks("json")[1][1])
    assert set(department_shown) == set(namespace["new_case"])
    assert set(department_shown["case"]) == set(namespace["new_case"]["case"])
    assert namespace["answer"].json()["result"] == "accepted"
    assert namespace["taken"].json()["status"] == "department_handling"
