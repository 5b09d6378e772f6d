"""The case workflow in working time (patch ``worktime-v1``) on the time-skipping server.

Around a real holiday with a make-up Saturday (the 2025 National Day pattern, moved onto the
days ahead of the server's clock: see tests/worktime_cases.py): a department case filed the
afternoon before falls due on the right working day and hour, its warning, urge and head
escalation fire in office hours and never inside the holiday; an emergency type keeps the
wall clock; a calendar loaded while a case is open changes only the deadlines set after it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import temporalio.api.sdk.v1
from sqlalchemy import select
from sqlmodel import col
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from schemas.cases.views import CaseView
from schemas.cases.workflow import CancelCase
from schemas.platform.tables import Notification
from schemas.worktime import TOWN_TZ, CalendarSlice, add_working
from schemas.worktime.policy import load_office_hours
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.worktime.calendar_store import loaded_years, store_year
from tests.support import (
    SUPERVISOR,
    count_rows,
    grid_point,
    key,
    open_case,
    place_stewards,
    save_history,
    wait_for,
)
from tests.worktime_cases import (
    REAL_EVE,
    base_year,
    case_of,
    emptied,
    moved_national_day,
    skip_to,
    town,
    with_days,
)
from tests.worktime_support import YEARS

pytestmark = pytest.mark.usefixtures("worker", "off_duty")

URBAN = load_office_hours().departments["urban_management"]
H8 = timedelta(hours=8)


@pytest.fixture
async def clean_calendar(sessions: SessionFactory) -> AsyncIterator[None]:
    """Each test loads its own years; none leaks into another test."""
    yield
    await emptied(sessions, "national_calendar_year")


async def department_texts(sessions: SessionFactory, case_id: str) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.execute(
            select(col(Notification.kind), col(Notification.body))
            .where(col(Notification.case_id) == case_id, col(Notification.channel) == "department")
            .order_by(col(Notification.position))  # the last of a kind wins, on every database
        )
        return {kind: body["text"] for kind, body in rows}


async def live_details(handle: WorkflowHandle[Any, Any]) -> str:
    """What the Temporal Web UI shows as the workflow's current details."""
    metadata = await handle.query(
        "__temporal_workflow_metadata", result_type=temporalio.api.sdk.v1.WorkflowMetadata
    )
    return str(metadata.current_details)


def entries(view: CaseView, kind: str) -> list[datetime]:
    return [e.at for e in view.timeline if e.kind == kind]


def near(at: datetime, expected: datetime) -> bool:
    """Within a minute: a timer's entry is stamped when its workflow task runs, and the
    test's own steps (filing at 15:00, acting at 10:00) take a few milliseconds of clock."""
    return abs(at - expected) < timedelta(minutes=1)


async def cancel(handle: WorkflowHandle[object, object]) -> None:
    await handle.execute_update(
        "cancel", CancelCase(actor=SUPERVISOR, idempotency_key=key(), reason="测试结束")
    )
    await handle.result()


def test_the_moved_holiday_counts_like_the_real_one() -> None:
    eve, schedule = moved_national_day(datetime(2026, 11, 30, tzinfo=TOWN_TZ))
    assert eve.weekday() == REAL_EVE.weekday()
    shift = eve - REAL_EVE
    real = CalendarSlice(rules=URBAN, years=YEARS)
    moved = CalendarSlice(rules=URBAN, years=[schedule])
    for hours in (1, 6.4, 8, 16, 40):
        span = timedelta(hours=hours)
        due = add_working(real, town(REAL_EVE, 15), span)
        assert add_working(moved, town(eve, 15), span) - shift == due


async def test_a_department_case_filed_before_the_holiday(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex, clean_calendar: None
) -> None:
    eve, schedule = moved_national_day(await env.get_current_time())
    await store_year(sessions, schedule, "test-operator")
    thursday, friday = eve + timedelta(days=9), eve + timedelta(days=10)
    await skip_to(env, town(eve, 15))
    inp = case_of(grids, "street_vendor", grid_point(grids, "G061"), department_direct=True)
    handle = await open_case(env.client, inp)

    stage = await wait_for(handle, lambda v: v.deadline is not None and v.status == "escalated")
    # 2.5 h on the eve, nothing in the eight days off, 5.5 h on Thursday: 15:30.
    assert stage.deadline is not None and near(stage.deadline, town(thursday, 15, 30))
    details = await live_details(handle)
    assert "Thursday" in details and "15:30 town time (8 working hours)" in details, details

    # Inside the holiday (wall-clock, the limit would have passed on the eve at 23:00).
    await skip_to(env, town(eve + timedelta(days=5), 12))
    quiet = await wait_for(handle, lambda v: v.status == "escalated")
    assert not quiet.overdue
    assert entries(quiet, "deadline_warning") == entries(quiet, "supervisor_urge") == []

    await skip_to(env, town(friday, 10, 35))
    done = await wait_for(handle, lambda v: bool(entries(v, "department_head_escalation")))
    warned, warned_again = entries(done, "deadline_warning")
    (urged,) = entries(done, "supervisor_urge")
    (head,) = entries(done, "department_head_escalation")
    assert near(warned, town(thursday, 13, 54))  # 80 % of 8 working hours: 6 h 24 min
    assert near(urged, town(thursday, 15, 30))
    assert near(head, town(friday, 10, 30))  # half the limit again: 2 h Thu, 2 h Fri
    assert near(warned_again, town(friday, 9, 42))  # 80 % of that grace
    holiday = {eve + timedelta(days=n) for n in range(1, 9)}
    assert not [e for e in done.timeline if e.at.astimezone(TOWN_TZ).date() in holiday]
    inbox = await count_rows(
        sessions,
        "SELECT count(*) FROM notification WHERE case_id = :c AND channel = 'department'",
        c=inp.case_id,
    )
    assert inbox == 5  # new case, warning, urge, warning, head escalation
    texts = await department_texts(sessions, inp.case_id)
    # the messages say the deadline as people read it, in town time and working hours
    assert re.search(r"将于 (\d+月\d+日 )?周五 10:30（4个工作小时） 超时", texts["warning"])
    assert re.search(r"新时限 (\d+月\d+日 )?周五 10:30（4个工作小时）", texts["urge"])
    await cancel(handle)
    await save_history(handle, "worktime_holiday_head_escalation_cancelled")


async def test_an_emergency_type_keeps_the_wall_clock(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex, clean_calendar: None
) -> None:
    eve, schedule = moved_national_day(await env.get_current_time())
    await store_year(sessions, schedule, "test-operator")
    night = town(eve + timedelta(days=3), 20)  # a holiday, after hours
    await skip_to(env, night)
    at = grid_point(grids, "G061")
    flood = await open_case(env.client, case_of(grids, "flooding", at))
    vendor = await open_case(
        env.client, case_of(grids, "street_vendor", at, department_direct=True)
    )

    def at_department(v: CaseView) -> bool:
        return v.deadline is not None and v.status == "escalated"

    flooding, street = await wait_for(flood, at_department), await wait_for(vendor, at_department)
    (escalated,) = entries(flooding, "escalated")
    assert flooding.deadline == escalated + timedelta(hours=4)  # continuous: 24/7
    # The same moment in working time: 7.5 h on the first day back, 0.5 h the next.
    assert street.deadline is not None
    assert near(street.deadline, town(eve + timedelta(days=10), 9))
    await cancel(flood)
    await cancel(vendor)
    await save_history(flood, "worktime_emergency_wall_clock_cancelled")


def three_working_days(after: datetime) -> date:
    day = after.astimezone(TOWN_TZ).date() + timedelta(days=1)
    while True:
        days = [day + timedelta(days=n) for n in range(3)]
        year = base_year(day.year)
        if all(d.year == day.year and year.is_working_day(d) and d.weekday() < 5 for d in days):
            return day
        day += timedelta(days=1)


async def test_a_calendar_loaded_while_a_case_is_open_changes_only_later_deadlines(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex, clean_calendar: None
) -> None:
    first = three_working_days(await env.get_current_time())
    second, third = first + timedelta(days=1), first + timedelta(days=2)
    await store_year(sessions, base_year(first.year), "test-operator")
    await skip_to(env, town(first, 16))
    inp = case_of(grids, "street_vendor", grid_point(grids, "G061"), department_direct=True)
    handle = await open_case(env.client, inp)
    stage = await wait_for(handle, lambda v: v.deadline is not None and v.status == "escalated")
    assert stage.deadline is not None and near(stage.deadline, town(second, 16, 30))

    # The operator loads a notice that makes the second day a holiday.
    await store_year(
        sessions, with_days(base_year(first.year), [second], source="revised"), "operator-li"
    )
    assert second in (await loaded_years(sessions))[first.year].holidays

    await skip_to(env, town(second, 16, 31))
    urged = await wait_for(handle, lambda v: bool(entries(v, "supervisor_urge")))
    # The deadline set before the load stands (not retroactive) ...
    assert near(entries(urged, "supervisor_urge")[0], town(second, 16, 30))
    assert urged.deadline is not None
    # ... the grace set after it counts the new holiday: 4 working hours from the third
    # day's opening (14:00), not 1 h on the second day and 3 h on the third (11:30).
    assert near(urged.deadline, town(third, 14))
    await skip_to(env, town(third, 14, 5))
    done = await wait_for(handle, lambda v: bool(entries(v, "department_head_escalation")))
    assert near(entries(done, "department_head_escalation")[0], town(third, 14))
    await cancel(handle)
    await save_history(handle, "worktime_calendar_loaded_while_open_cancelled")


async def test_a_steward_stage_counts_the_stewards_duty_hours(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    """Stewards are on duty 07:00-22:00 every day, holidays included: an offer at 21:55
    waits 5 minutes tonight and 10 tomorrow morning, with no calendar to ask for."""
    day = (await env.get_current_time()).astimezone(TOWN_TZ).date() + timedelta(days=1)
    at = grid_point(grids, "G061")
    await skip_to(env, town(day, 21, 55))
    (steward,) = await place_stewards(sessions, grids, at, 1)
    handle = await open_case(env.client, case_of(grids, "street_vendor", at))
    offered = await wait_for(handle, lambda v: v.status == "dispatched" and v.deadline is not None)
    assert offered.steward_id == steward
    assert offered.deadline is not None  # PT15M of duty time
    assert near(offered.deadline, town(day + timedelta(days=1), 7, 10))
    await cancel(handle)
