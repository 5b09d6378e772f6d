"""Suspension (缓办) on the time-skipping server: asked, decided, the clock stops, resumed
by the center, by the planned date or by a sensor, every step in the timeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from constants import SA_SUSPENDED
from schemas.cases.suspension import ResumeCase, SuspensionDecision, SuspensionRequest
from schemas.cases.workflow import DepartmentExtension, ReportRecovery
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.supervision.board import grid_loads
from services.worktime.calendar_store import store_year
from tests.support import SUPERVISOR, grid_point, key, open_case, save_history, view, wait_for
from tests.test_worktime_case import (
    cancel,
    entries,
    live_details,
    near,
    three_working_days,
)
from tests.worktime_cases import base_year, case_of, emptied, skip_to, town

pytestmark = pytest.mark.usefixtures("worker", "off_duty")

URBAN = Actor(role="department", id="urban_management")


@pytest.fixture
async def calendar(sessions: SessionFactory, env: WorkflowEnvironment) -> AsyncIterator[Any]:
    first = three_working_days(await env.get_current_time())
    await store_year(sessions, base_year(first.year), "test-operator")
    yield first
    await emptied(sessions, "national_calendar_year")


async def department_case(
    env: WorkflowEnvironment, grids: GridIndex, at: datetime
) -> WorkflowHandle[Any, Any]:
    await skip_to(env, at)
    inp = case_of(grids, "street_vendor", grid_point(grids, "G061"), department_direct=True)
    handle = await open_case(env.client, inp)
    await wait_for(handle, lambda v: v.deadline is not None and v.status == "escalated")
    return handle


async def ask(handle: WorkflowHandle[Any, Any], **when: Any) -> None:
    await handle.execute_update(
        "request_suspension",
        SuspensionRequest(
            actor=URBAN,
            idempotency_key=key(),
            reason_code="awaiting_funds",
            reason="修复经费待批",
            **when,
        ),
    )


async def approve(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.execute_update(
        "decide_suspension",
        SuspensionDecision(actor=SUPERVISOR, idempotency_key=key(), approve=True),
    )


async def refused(coro: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await coro
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return str(cause.type)


async def suspended_attr(handle: WorkflowHandle[Any, Any]) -> bool | None:
    return (await handle.describe()).typed_search_attributes.get(SA_SUSPENDED)


async def board_suspended(sessions: SessionFactory, grid_id: str) -> int:
    for _ in range(200):  # the projection catches up when the case comes to rest
        async with sessions() as session:
            load = (await grid_loads(session)).get(grid_id)
        if load is not None and load.suspended:
            return load.suspended
        await asyncio.sleep(0.05)
    return 0


async def test_a_suspension_stops_the_working_clock_until_the_center_resumes(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex, calendar: Any
) -> None:
    first, second, third = (calendar + timedelta(days=n) for n in range(3))
    handle = await department_case(env, grids, town(first, 9))
    # 8 working hours from 09:00: 3 h + 4 h on the first day, 1 h on the second: 09:30.
    assert near((await view(handle)).deadline or first, town(second, 9, 30))

    await skip_to(env, town(first, 10))
    await ask(handle, resume_condition="经费批复后")
    code = await refused(ask(handle, resume_condition="again"))
    assert code == "wrong_stage"  # one request at a time
    code = await refused(
        handle.execute_update(
            "decide_suspension",
            SuspensionDecision(actor=URBAN, idempotency_key=key(), approve=True),
        )
    )
    assert code == "forbidden_role"  # only the center decides
    await approve(handle)
    suspended = await view(handle)
    assert suspended.status == "suspended"
    assert await suspended_attr(handle) is True
    assert "paused: suspended" in await live_details(handle)
    # the projection, so the API's lists and the supervisor board show it too
    held = await board_suspended(sessions, suspended.grid_id)
    assert held >= 1

    # Long past the limit: no warning, no urge, not overdue.
    await skip_to(env, town(second, 11))
    quiet = await view(handle)
    assert quiet.status == "suspended" and not quiet.overdue
    assert entries(quiet, "deadline_warning") == entries(quiet, "supervisor_urge") == []
    code = await refused(
        handle.execute_update(
            "department_report",
            {"actor": URBAN.model_dump(), "idempotency_key": key(), "note": "done"},
        )
    )
    assert code == "wrong_stage"  # resume first

    await handle.execute_update(
        "resume_case", ResumeCase(actor=SUPERVISOR, idempotency_key=key(), note="经费已批")
    )
    resumed = await view(handle)
    assert resumed.status == "escalated" and await suspended_attr(handle) is False
    (entry,) = [e for e in resumed.timeline if e.kind == "resumed"]
    assert entry.data["by"] == "center"
    assert abs(int(entry.data["suspended_seconds"]) - 25 * 3600) < 60
    # 10:00-17:30 less lunch (6 h) and 08:30-11:00 (2.5 h) of office time were not counted.
    assert abs(int(entry.data["suspended_working_seconds"]) - 8.5 * 3600) < 60
    # The 7 working hours still owed, from 11:00: 1 h + 4 h, then 2 h on the third day.
    assert resumed.deadline is not None and near(resumed.deadline, town(third, 10, 30))

    await skip_to(env, town(third, 10, 35))
    late = await wait_for(handle, lambda v: bool(entries(v, "supervisor_urge")))
    # The warning moved with it: 5 h 24 min of the 6 h 24 min were still to come.
    assert near(entries(late, "deadline_warning")[0], town(third, 8, 54))
    assert near(entries(late, "supervisor_urge")[0], town(third, 10, 30))
    kinds = [e.kind for e in late.timeline]
    assert kinds[:5] == ["filed", "escalated", "suspension_requested", "suspended", "resumed"]
    await cancel(handle)
    await save_history(handle, "suspension_center_resumed_cancelled")


async def test_a_suspension_resumes_on_its_date_or_on_a_sensor_recovery(
    env: WorkflowEnvironment, grids: GridIndex, calendar: Any
) -> None:
    first, second = calendar, calendar + timedelta(days=1)
    dated = await department_case(env, grids, town(first, 9))
    sensed = await department_case(env, grids, town(first, 9, 5))
    await ask(dated, resume_on=town(second, 9))
    await ask(sensed, resume_condition="水位回落")
    await approve(dated)
    # refused with a reason code: the request is gone, the case goes on
    await sensed.execute_update(
        "decide_suspension",
        SuspensionDecision(
            actor=SUPERVISOR, idempotency_key=key(), approve=False, refusal_code="handle_now"
        ),
    )
    after_refusal = await view(sensed)
    assert after_refusal.status == "escalated"
    assert [e.data for e in after_refusal.timeline if e.kind == "suspension_refused"] == [
        {"code": "handle_now"}
    ]
    await ask(sensed, resume_condition="水位回落")
    await approve(sensed)

    await skip_to(env, town(second, 9, 1))
    by_date = await wait_for(dated, lambda v: v.status == "escalated")
    (entry,) = [e for e in by_date.timeline if e.kind == "resumed"]
    assert entry.data["by"] == "date" and near(entry.at, town(second, 9))

    device = Actor(role="device", id="SENSOR-W1")
    await sensed.execute_update(
        "report_recovery", ReportRecovery(actor=device, idempotency_key=key(), note="恢复正常")
    )
    by_sensor = await view(sensed)
    (entry,) = [e for e in by_sensor.timeline if e.kind == "resumed"]
    assert entry.data["by"] == "sensor" and by_sensor.status == "escalated"
    for handle in (dated, sensed):
        await cancel(handle)
    await save_history(dated, "suspension_resumed_on_date_cancelled")


async def test_an_extension_counts_working_time_too(
    env: WorkflowEnvironment, grids: GridIndex, calendar: Any
) -> None:
    first, second, third = (calendar + timedelta(days=n) for n in range(3))
    handle = await department_case(env, grids, town(first, 16))
    assert near((await view(handle)).deadline or first, town(second, 16, 30))
    await handle.execute_update(
        "department_extension",
        DepartmentExtension(
            actor=URBAN, idempotency_key=key(), extra=timedelta(hours=2), reason="等待配件"
        ),
    )
    moved = await view(handle)
    # 2 working hours after 16:30: one to the close, one from the next opening.
    assert moved.deadline is not None and near(moved.deadline, town(third, 9, 30))
    (granted,) = [e for e in moved.timeline if e.kind == "extension_granted"]
    assert near(datetime.fromisoformat(granted.data["until"]), town(third, 9, 30))
    await cancel(handle)
