"""The working-time models and arithmetic run inside Temporal's strict sandbox, and a slice
survives the pydantic data converter unchanged (same version) into and out of history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, timedelta

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from schemas.worktime import CalendarSlice, HorizonError, YearSchedule, add_working
from schemas.worktime.sources import build_slice, from_package
from tests.worktime_support import OFFICE
from tests.worktime_workflow import DeadlineInput, DeadlineResult, WorkingDeadlineWorkflow

EIGHT_HOURS = timedelta(hours=8)


@pytest.fixture(scope="module")
async def queue(env: WorkflowEnvironment) -> AsyncIterator[str]:
    name = f"worktime-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=name,
        workflows=[WorkingDeadlineWorkflow],
        workflow_runner=SandboxedWorkflowRunner(),  # the strict default sandbox
    ):
        yield name


async def _run(env: WorkflowEnvironment, queue: str, cal: CalendarSlice) -> DeadlineResult:
    return await env.client.execute_workflow(
        WorkingDeadlineWorkflow.run,
        DeadlineInput(slice=cal, span=EIGHT_HOURS),
        id=f"worktime-{uuid.uuid4()}",
        task_queue=queue,
    )


async def test_a_working_deadline_inside_a_real_workflow(
    env: WorkflowEnvironment, queue: str
) -> None:
    now = await env.get_current_time()
    year = now.astimezone(UTC).year
    cal = build_slice(OFFICE, year)
    try:  # late in a year whose successor the package lacks: an operator file for it
        add_working(cal, now, EIGHT_HOURS + timedelta(days=7))
    except HorizonError:
        loaded = YearSchedule(year=year + 1, holidays=[date(year + 1, 1, 1)], source="test")
        cal = build_slice(OFFICE, year, {year + 1: loaded})
    result = await _run(env, queue, cal)
    assert result.version == cal.version
    assert result.due == add_working(cal, result.started, EIGHT_HOURS)
    assert result.due - result.started >= EIGHT_HOURS  # never earlier than wall-clock
    assert result.woke >= result.due and result.open_when_woken


async def test_past_the_horizon_the_workflow_fails_visibly(
    env: WorkflowEnvironment, queue: str
) -> None:
    old = CalendarSlice(rules=OFFICE, years=[from_package(2025)])  # today is after it
    with pytest.raises(WorkflowFailureError) as caught:
        await _run(env, queue, old)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "HorizonError"
    assert "must come from an activity" in str(cause)
