"""Stage deadlines in working time of the acting office (patch ``worktime-v1``).

A stage deadline used to be ``workflow.now() + span``. With a working-time policy
(``CasePolicy.worktime``, clock ``working``) and an acting office that is not open around
the clock, it is ``span`` of that office's opening time from now, under the national
calendar: the warning at 80 % of the *working* span, the urge and the head escalation after
a grace counted in working hours too. The calendar comes from a local activity when the
stage starts (``ACT_CALENDAR_SLICE``) and stays in history: a notice loaded later changes
the deadlines computed after it, never one already set, and replay reads it back.

Cases without a working-time policy, continuous types (fire, smoke alarm, flooding) and
24/7 offices (traffic police, fire) keep the wall clock and never reach the patch, so their
histories are as before. If the calendar cannot answer (a year nobody knows yet) the stage
runs on the wall clock and the timeline says so: a case never stalls on its calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.cases.base import CaseBase
from workflows.kit.waiting import Deadline

with workflow.unsafe.imports_passed_through():
    from constants import ACT_CALENDAR_SLICE
    from schemas.worktime import (
        CalendarSlice,
        HorizonError,
        WorkingDays,
        WorkingRules,
        add_working,
    )
    from schemas.worktime.arith import working_between
    from schemas.worktime.policy import Office, SliceAnswer, SliceRequest, as_span

PATCH_WORKTIME = "worktime-v1"
# The department's ``new_case`` message after its stage's deadline, and each steward team's
# own duty roster (asked of the calendar activity): decided once per run, first use wins.
PATCH_WORKTIME_V2 = "worktime-v2"
# A steward offer's team calendar comes with the reservation (one local activity, not two:
# ``roster_request``); asked once per run, only by cases whose steward stages count working
# time, so other cases' histories carry no marker for it.
PATCH_RESERVE_SLICE = "reserve-slice-v1"


@dataclass(frozen=True)
class OfficeClock:
    """Working time of one office under one calendar slice; pure, never raises."""

    cal: CalendarSlice
    hours_only: bool = False

    def exact(self, start: datetime, span: timedelta) -> datetime:
        """``span`` after ``start`` in working time; ``HorizonError`` past the slice."""
        counted = span if self.hours_only else as_span(span)
        if isinstance(counted, int):
            return add_working(self.cal, start, WorkingDays(count=counted))
        return add_working(self.cal, start, counted)

    def add(self, start: datetime, span: timedelta) -> datetime:
        try:
            return self.exact(start, span)
        except HorizonError:  # past the slice (an extension of months): the wall clock
            return start + span

    def add_hours(self, start: datetime, span: timedelta) -> datetime:
        """``span`` of opening time, never read as working days (what a pause left)."""
        try:
            return add_working(self.cal, start, span)
        except HorizonError:
            return start + span

    def warn_at(self, start: datetime, due: datetime, fraction: float) -> datetime:
        try:
            total = working_between(self.cal, start, due)
            return add_working(self.cal, start, total * fraction)
        except HorizonError:
            return due - (due - start) * (1 - fraction)

    def working(self, start: datetime, due: datetime) -> timedelta:
        try:
            return working_between(self.cal, start, due)
        except HorizonError:
            return due - start


async def stage_deadline(
    case: CaseBase,
    office: Office,
    span: timedelta,
    *,
    hours_only: bool = False,
    team: str | None = None,
) -> Deadline:
    """The deadline of a stage starting now, in the acting office's time when it counts so.

    ``team``: the grid of the steward acting in a steward stage, whose own roster (if the
    operator loaded one) counts since ``worktime-v2``.
    """
    now = workflow.now()
    policy = case.state.inp.policy
    worktime = policy.worktime
    rules = worktime.rules_for(office, case.state.department) if worktime is not None else None
    if rules is None or not workflow.patched(PATCH_WORKTIME):
        return Deadline(now + span, span)
    if office == "steward" and team is not None and workflow.patched(PATCH_WORKTIME_V2):
        return await team_deadline(case, rules, team, span, hours_only)
    if rules.days == "every_day":  # a duty roster (stewards) needs no national calendar
        clock = OfficeClock(CalendarSlice(rules=rules, years=[]), hours_only=hours_only)
        return Deadline(clock.add(now, span), span, start=now, clock=clock)
    try:
        answer: SliceAnswer = await case.io(
            ACT_CALENDAR_SLICE, SliceRequest(rules=rules, at=now), SliceAnswer
        )
    except (ActivityError, ApplicationError) as error:  # a local activity's own failure
        cause = error.cause if isinstance(error, ActivityError) else error
        case.emit("worktime_unavailable", note=str(cause or error)[:500])
        return Deadline(now + span, span)
    return on_slice(case, answer.slice, now, span, hours_only)


def on_slice(
    case: CaseBase, cal: CalendarSlice, now: datetime, span: timedelta, hours_only: bool
) -> Deadline:
    """``span`` from ``now`` on the slice's clock; the wall clock past its horizon (said so)."""
    if cal.rules.always_open:  # a 24/7 roster: hours are hours
        return Deadline(now + span, span)
    clock = OfficeClock(cal, hours_only=hours_only)
    try:
        clock.exact(now, span)
    except HorizonError as error:  # next year's notice not loaded yet: say so, run on
        case.emit("worktime_unavailable", note=str(error)[:500])
        return Deadline(now + span, span)
    return Deadline(clock.add(now, span), span, start=now, clock=clock)


def roster_request(case: CaseBase) -> SliceRequest | None:
    """What an offer's reservation asks of the calendar for the stage it starts (the
    reserved steward's team is filled in by the activity), or None: no working time for
    stewards, or a run from before ``worktime-v2`` or before ``reserve-slice-v1``."""
    worktime = case.state.inp.policy.worktime
    rules = worktime.rules_for("steward", case.state.department) if worktime else None
    if rules is None or not workflow.patched(PATCH_RESERVE_SLICE):
        return None
    if not (workflow.patched(PATCH_WORKTIME) and workflow.patched(PATCH_WORKTIME_V2)):
        return None
    return SliceRequest(rules=rules, at=workflow.now())


async def team_deadline(
    case: CaseBase, default: WorkingRules, team: str, span: timedelta, hours_only: bool
) -> Deadline:
    """A steward stage on the acting team's roster, asked of the calendar activity (its
    answer in history: a roster loaded later changes later stages only, never a replay),
    or brought by the offer's reservation (``roster_request``)."""
    now = workflow.now()
    request = SliceRequest(rules=default, at=now, team=team)
    brought = case.take_team_slice(team)
    try:
        if brought is None:
            answer: SliceAnswer = await case.io(ACT_CALENDAR_SLICE, request, SliceAnswer)
        elif isinstance(brought, str):  # the calendar's own failure, as the activity's
            raise ApplicationError(brought, type="UnknownYear", non_retryable=True)
        else:
            answer = brought
    except (ActivityError, ApplicationError) as error:  # say so; the default roster counts
        cause = error.cause if isinstance(error, ActivityError) else error
        case.emit("worktime_unavailable", note=str(cause or error)[:500])
        if default.days != "every_day":
            return Deadline(now + span, span)
        answer = SliceAnswer(slice=CalendarSlice(rules=default, years=[]))
    return on_slice(case, answer.slice, now, span, hours_only)


async def grace_deadline(case: CaseBase, missed: Deadline | None, fraction: float) -> Deadline:
    """After an overdue department stage: ``fraction`` of its limit again, in working hours
    when the missed limit counted working time (so no urge or head escalation at night)."""
    span = case.state.inp.policy.case_type.sla.department
    if missed is None or not isinstance(missed.clock, OfficeClock) or missed.start is None:
        return Deadline(workflow.now() + span * fraction, span * fraction)
    limit = missed.clock.add(missed.start, span)  # the limit as set, before any extension
    grace = missed.clock.working(missed.start, limit) * fraction
    return await stage_deadline(case, "department", grace, hours_only=True)


def clock_between(deadline: Deadline, a: datetime, b: datetime) -> timedelta:
    """Time between two instants on the deadline's clock (working or wall), never negative."""
    if b <= a:
        return timedelta(0)
    if isinstance(deadline.clock, OfficeClock):
        return deadline.clock.working(a, b)
    return b - a


def clock_add(deadline: Deadline, start: datetime, span: timedelta) -> datetime:
    if isinstance(deadline.clock, OfficeClock):
        return deadline.clock.add_hours(start, span)
    return start + span
