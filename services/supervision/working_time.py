"""Evaluation as the standard counts it: stage durations in working time, suspension out.

A stage's duration is the opening time of the office that acts in it (stewards' duty hours
for dispatch and handling: the acting team's own roster when it has one, a team being a
grid's stewards, else the default; the steward's grid when the case names its steward,
else the case's grid, where its nearest steward usually comes from; the department's
office hours for its stage and for the whole case, the linkage center's for verification)
under the national calendar (loaded years over the package), less the working time the
case spent suspended (缓办) within it. Cases of a continuous type (fire, smoke alarm,
flooding) and 24/7 offices count wall-clock time, and so does a period the calendar does
not know (before the package's first year).

The on-time closure rate needs no calendar here: a limit already counts working time in the
workflow (``worktime-v1``) and stops while a case is suspended, so a missed limit leaves its
entry in the timeline exactly when the standard says it was missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.cases.catalog import load_catalog
from schemas.cases.tables import CaseEvent
from schemas.stewards.tables import Steward
from schemas.supervision.evaluation import StageName
from schemas.worktime import CalendarSlice, HorizonError, WorkingRules, YearSchedule
from schemas.worktime.arith import working_between
from schemas.worktime.policy import Office, load_office_hours
from schemas.worktime.sources import UnknownYearError, national_years
from schemas.worktime.tables import NationalCalendarYear, TeamRoster
from services.platform.db import utc

if TYPE_CHECKING:
    from services.supervision.evaluation import CaseFacts

EVENTS: Table = CaseEvent.__table__  # type: ignore[attr-defined]

# stage -> (office acting in it)
STAGE_OFFICE: dict[StageName, Office] = {
    "dispatch_to_accept": "steward",
    "accept_to_resolve": "steward",
    "escalate_to_report": "department",
    "resolve_to_verify": "center",
    "file_to_close": "department",
}

Interval = tuple[datetime, datetime]


class Measure:
    """Working time of each office under the calendar of the years a period needs."""

    def __init__(
        self, years: list[YearSchedule] | None, teams: Mapping[str, WorkingRules] | None = None
    ) -> None:
        self.years = years
        self.teams = dict(teams or {})
        self.hours = load_office_hours()
        self.continuous = {t.code for t in load_catalog().case_types if t.clock == "continuous"}
        self._slices: dict[str, CalendarSlice | None] = {}

    def _rules(self, office: Office, department: str, team: str) -> WorkingRules | None:
        if office == "steward":
            return self.teams.get(team) or self.hours.stewards
        if office == "center":
            return self.hours.center
        return self.hours.departments.get(department)

    def _slice(self, office: Office, department: str, team: str = "") -> CalendarSlice | None:
        team = team if office == "steward" and team in self.teams else ""
        key = f"{office}:{department}:{team}"
        if key not in self._slices:
            rules = self._rules(office, department, team)
            usable = rules is not None and not rules.always_open and self.years
            self._slices[key] = (
                CalendarSlice(rules=rules, years=self.years) if usable and rules else None
            )
        return self._slices[key]

    def seconds(
        self,
        office: Office,
        fact: CaseFacts,
        start: datetime,
        end: datetime,
        suspended: Iterable[Interval] = (),
    ) -> float:
        """``[start, end)`` in the office's working time, less the suspended part of it."""
        cal = None
        if fact.keys.get("case_type") not in self.continuous:
            team = fact.keys.get("team") or fact.keys.get("grid") or ""
            cal = self._slice(office, fact.keys.get("department") or "", team)
        pieces = [(start, end)]
        cut = [(max(a, start), min(b, end)) for a, b in suspended if min(b, end) > max(a, start)]
        try:
            total = sum(_span(cal, a, b) for a, b in pieces) - sum(_span(cal, a, b) for a, b in cut)
        except HorizonError:  # outside the calendar's years: the wall clock
            total = (end - start).total_seconds() - sum((b - a).total_seconds() for a, b in cut)
        return max(total, 0.0)


def _span(cal: CalendarSlice | None, a: datetime, b: datetime) -> float:
    if cal is None:
        return (b - a).total_seconds()
    return working_between(cal, a, b).total_seconds()


async def measure_for(session: AsyncSession, first: datetime, last: datetime) -> Measure:
    """The calendar for the years from ``first`` to a year after ``last`` (cases close late)."""
    rows = (await session.execute(select(NationalCalendarYear))).scalars().all()
    loaded = {row.year: YearSchedule.model_validate(row.schedule) for row in rows}
    rosters = (await session.execute(select(TeamRoster))).scalars().all()
    teams = {row.team: WorkingRules.model_validate(row.rules) for row in rosters}
    try:
        years = national_years(first.year, last.year + 1, loaded)
    except UnknownYearError:
        return Measure(None, teams)
    return Measure(years, teams)


async def steward_teams(session: AsyncSession, stewards: set[str]) -> dict[str, str]:
    """Each named steward's team (their grid)."""
    if not stewards:
        return {}
    statement = select(col(Steward.id), col(Steward.grid_id)).where(col(Steward.id).in_(stewards))
    return {str(sid): str(grid) for sid, grid in await session.execute(statement)}


async def suspensions(
    session: AsyncSession, case_ids: list[str], until: datetime
) -> dict[str, list[Interval]]:
    """Per case, its suspended intervals (an open one ends at ``until``)."""
    e = EVENTS.c
    out: dict[str, list[Interval]] = {}
    if not case_ids:
        return out
    statement = (
        select(e.case_id, e.kind, e.at)
        .where(e.case_id.in_(case_ids), e.kind.in_(("suspended", "resumed")))
        .order_by(e.case_id, e.seq)
    )
    since: dict[str, datetime] = {}
    for case_id, kind, at in await session.execute(statement):
        moment = utc(at)
        assert moment is not None
        if kind == "suspended":
            since[case_id] = moment
        elif case_id in since:
            out.setdefault(case_id, []).append((since.pop(case_id), moment))
    for case_id, start in since.items():
        out.setdefault(case_id, []).append((start, max(start, until)))
    return out


async def attach_working(
    session: AsyncSession,
    facts: list[CaseFacts],
    spans: Mapping[StageName, tuple[str, str]],
    now: datetime,
) -> None:
    """Fill each fact's suspended intervals and its stages in working time."""
    if not facts:
        return
    starts = [t for f in facts for t in f.times.values() if t is not None]
    measure = await measure_for(session, min(starts), max(starts))
    held = await suspensions(session, [f.case_id for f in facts], now)
    named = {s for f in facts if (s := f.keys.get("steward"))}
    teams = await steward_teams(session, named) if measure.teams else {}
    for fact in facts:
        fact.suspended = held.get(fact.case_id, [])
        if (steward := fact.keys.get("steward")) and steward in teams:
            fact.keys["team"] = teams[steward]
        for name, (start_col, end_col) in spans.items():
            start, end = fact.times.get(start_col), fact.times.get(end_col)
            if start is not None and end is not None and end >= start:
                office = STAGE_OFFICE[name]
                fact.working[name] = measure.seconds(office, fact, start, end, fact.suspended)
