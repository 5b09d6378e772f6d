"""Patch ``worktime-v2`` on the time-skipping server: the department hears its own deadline.

Before it, a department's ``new_case`` message went out before its stage's deadline was
computed, so it said "-" (a case filed straight to a department) or the steward stage's
deadline. Now it says the department's working-time limit as people read it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

from schemas.cases.dispatch import DepartmentMessage
from schemas.cases.tables import CaseRecord
from schemas.cases.workflow import CancelCase
from schemas.platform.tables import Notification
from schemas.worktime import TOWN_TZ
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.worktime.calendar_store import store_year
from services.worktime.text import deadline_text
from tests.support import SUPERVISOR, grid_point, key, open_case, save_history, wait_for
from tests.worktime_cases import case_of, emptied, moved_national_day, skip_to, town

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


@pytest.fixture
async def clean_calendar(sessions: SessionFactory) -> AsyncIterator[None]:
    yield
    await emptied(sessions, "national_calendar_year")


async def department_message(
    sessions: SessionFactory, case_id: str, kind: str
) -> dict[str, Any] | None:
    """What the department system was sent (the outbox keeps every body it delivers)."""
    async with sessions() as session:
        rows = await session.execute(
            select(col(Notification.body)).where(
                col(Notification.case_id) == case_id,
                col(Notification.channel) == "department",
                col(Notification.kind) == kind,
            )
        )
        found = rows.scalars().first()
    return dict(found) if found is not None else None


async def wait_for_message(sessions: SessionFactory, case_id: str, kind: str) -> dict[str, Any]:
    """Poll the outbox until the message is there (activities run in real time)."""
    for _ in range(400):
        found = await department_message(sessions, case_id, kind)
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} message for {case_id}")


async def projected_span(sessions: SessionFactory, case_id: str) -> int | None:
    """``case_record.deadline_span_s`` once the projection has the stage's deadline."""
    span = None
    for _ in range(400):
        async with sessions() as session:
            row = await session.get(CaseRecord, case_id)
            span = row.deadline_span_s if row is not None and row.deadline else None
        if span is not None:
            return span
        await asyncio.sleep(0.05)
    return span


async def test_the_department_hears_its_stages_working_time_deadline(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex, clean_calendar: None
) -> None:
    eve, schedule = moved_national_day(await env.get_current_time())
    await store_year(sessions, schedule, "test-operator")
    thursday = eve + timedelta(days=9)
    await skip_to(env, town(eve, 15))
    inp = case_of(grids, "street_vendor", grid_point(grids, "G061"), department_direct=True)
    handle = await open_case(env.client, inp)
    stage = await wait_for(handle, lambda v: v.deadline is not None and v.status == "escalated")
    assert stage.deadline is not None
    due = stage.deadline.astimezone(TOWN_TZ)
    assert (due.date(), due.hour, due.minute) == (thursday, 15, 30)

    message = await wait_for_message(sessions, inp.case_id, "new_case")
    # 2.5 h on the eve, nothing in the eight days off, 5.5 h on Thursday: 15:30.
    assert re.search(r"处置时限 (\d+月\d+日 )?周四 15:30（8个工作小时）", message["text"]), message
    sent = DepartmentMessage.model_validate(message["case"])
    assert sent.deadline == stage.deadline and sent.deadline_span == timedelta(hours=8)
    english = deadline_text(sent.deadline, sent.deadline_span, "en")
    assert re.search(r"Thursday (\d+ \w+ )?15:30 \(8 working hours\)", english), english
    # the projection keeps the limit, so the queue and desk lists can say it too
    assert await projected_span(sessions, inp.case_id) == 8 * 3600
    await handle.execute_update(
        "cancel", CancelCase(actor=SUPERVISOR, idempotency_key=key(), reason="测试结束")
    )
    await handle.result()
    await save_history(handle, "worktime_v2_department_hears_its_deadline_cancelled")
