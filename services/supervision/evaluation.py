"""Evaluation (综合评价): closure, on-time and rework rates, and time per stage, by group.

Read from the case projection only, never from Temporal, so that a month of statistics
costs one grouped SQL query and no workflow is touched. Durations are computed in Python
from per-case stage timestamps (conditional ``min``/``max`` over ``case_event``): the same
SQL runs on SQLite and PostgreSQL, with no dialect-specific epoch arithmetic, and the
percentile is exact rather than an approximation of the database's.

Definitions (also returned with every report):

- a case belongs to the period when it was *reported* in ``[from, to)``;
- **closure rate** = closed / (cases − cancelled): a cancellation (duplicate, invalid) is a
  legitimate end, not an unfinished case;
- **on-time rate** = on-time / closed, where a closed case is on time when its timeline has
  no entry of ``MISSED_KINDS`` (any stage deadline passed, or the center had to urge);
- **rework rate** = cases with a ``verification_failed`` / cases verified at least once;
- stages take the *first* pass through them (``dispatch_to_accept`` is first dispatch to
  first acceptance, so time lost to accept timeouts counts), except ``resolve_to_verify``,
  which runs from the last result reported before the passing verification;
- group ``steward`` is the steward of the last ``accepted`` entry; cases no steward ever
  accepted (department-direct ones) are left out of that grouping only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cases.satisfaction_tables import Satisfaction
from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.cases.workflow import MISSED_KINDS
from schemas.supervision.evaluation import (
    STAGE_NAMES,
    EvaluationReport,
    EvaluationRow,
    GroupBy,
    StageName,
    StageStats,
)
from services.platform.db import utc
from services.supervision.working_time import attach_working

RESULT_KINDS: tuple[str, ...] = ("resolved", "department_reported", "sensor_recovered")
ENDED = ("closed", "cancelled")
RECORDS: Table = CaseRecord.__table__  # type: ignore[attr-defined]
RATINGS: Table = Satisfaction.__table__  # type: ignore[attr-defined]
EVENTS: Table = CaseEvent.__table__  # type: ignore[attr-defined]

DEFINITIONS: dict[str, str] = {
    "period": "cases reported in [period_from, period_to)",
    "closure_rate": "closed / (cases - cancelled)",
    "on_time_rate": "closed cases with no " + ", ".join(MISSED_KINDS) + " entry / closed",
    "rework_rate": "cases with a verification_failed entry / cases verified at least once",
    "stages": "first pass through each stage; resolve_to_verify from the last result reported",
    "p90": "nearest-rank 90th percentile, in seconds",
    "steward": "the steward of the last accepted entry; cases never accepted are left out",
    "due": "closed cases, and open cases with a missed-limit entry (应结案数)",
    "on_time_closure_rate": "on_time / due (按期结案率); limits count working time of the "
    "acting office and stop while a case is suspended (缓办), so suspended time never counts",
    "working_stages": "the stages in working time of the office acting in each (stewards' "
    "duty, the department's office hours, the center's), national calendar, suspension out",
    "satisfaction_rate": "reporters' ratings at or above followup.satisfied_from / ratings",
}

# (stage, start column, end column) over the labels of the per-case query
STAGE_SPANS: dict[StageName, tuple[str, str]] = {
    "dispatch_to_accept": ("dispatched_at", "accepted_at"),
    "accept_to_resolve": ("accepted_at", "resolved_at"),
    "escalate_to_report": ("escalated_at", "department_reported_at"),
    "resolve_to_verify": ("result_at", "verified_at"),
    "file_to_close": ("filed_at", "closed_at"),
}


_TIME_COLUMNS = (
    "filed_at",
    "dispatched_at",
    "accepted_at",
    "resolved_at",
    "escalated_at",
    "department_reported_at",
    "result_at",
    "verified_at",
    "closed_at",
)


@dataclass
class CaseFacts:
    """What the evaluation needs to know about one case, from one row of the grouped query."""

    case_id: str
    keys: dict[str, str | None]
    status: str
    overdue: bool
    missed: bool
    reworked: bool
    checked: bool
    times: dict[str, datetime | None]
    # working time (services.supervision.working_time): suspended intervals, stage seconds
    suspended: list[tuple[datetime, datetime]] = field(default_factory=list)
    working: dict[str, float] = field(default_factory=dict)
    ratings: list[tuple[int, bool]] = field(default_factory=list)  # (rating, satisfied)


@dataclass
class _Group:
    facts: list[CaseFacts] = field(default_factory=list)


def _first(kind: str) -> ColumnElement[Any]:
    return func.min(case((EVENTS.c.kind == kind, EVENTS.c.at)))


def _any(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.max(case((condition, 1), else_=0))


async def case_facts(
    session: AsyncSession, period_from: datetime, period_to: datetime, with_steward: bool = False
) -> list[CaseFacts]:
    """Per-case stage timestamps and flags for the cases reported in the period."""
    r = RECORDS.c
    e = EVENTS.c
    start, end = period_from.astimezone(UTC), period_to.astimezone(UTC)
    in_period = and_(r.reported_at >= start, r.reported_at < end)
    record_cols = (r.case_id, r.grid_id, r.department, r.case_type, r.status, r.overdue)
    statement = (
        select(
            *record_cols,
            r.reported_at,
            _first("filed").label("filed_at"),
            _first("dispatched").label("dispatched_at"),
            _first("accepted").label("accepted_at"),
            _first("resolved").label("resolved_at"),
            _first("escalated").label("escalated_at"),
            _first("department_reported").label("department_reported_at"),
            func.max(case((and_(e.kind.in_(RESULT_KINDS), e.status == "resolved"), e.at))).label(
                "result_at"
            ),
            _first("verified").label("verified_at"),
            _first("closed").label("closed_at"),
            _any(e.kind.in_(MISSED_KINDS)).label("missed"),
            _any(e.kind == "verification_failed").label("reworked"),
            _any(e.kind.in_(("verified", "verification_failed"))).label("checked"),
        )
        .select_from(RECORDS.outerjoin(EVENTS, e.case_id == r.case_id))
        .where(in_period)
        .group_by(*record_cols, r.reported_at)
    )
    stewards: dict[str, str] = {}
    if with_steward:
        stewards = await _accepting_stewards(session, in_period)
    ratings = await _ratings(session, in_period)
    facts = []
    for row in (await session.execute(statement)).mappings():
        times = {name: utc(row[name]) for name in _TIME_COLUMNS}
        times["filed_at"] = times["filed_at"] or utc(row["reported_at"])
        facts.append(
            CaseFacts(
                case_id=row["case_id"],
                keys={
                    "grid": row["grid_id"],
                    "department": row["department"],
                    "case_type": row["case_type"],
                    "steward": stewards.get(row["case_id"]),
                },
                status=row["status"],
                overdue=bool(row["overdue"]),
                missed=bool(row["missed"]),
                reworked=bool(row["reworked"]),
                checked=bool(row["checked"]),
                times=times,
                ratings=ratings.get(row["case_id"], []),
            )
        )
    return facts


async def _accepting_stewards(
    session: AsyncSession, in_period: ColumnElement[bool]
) -> dict[str, str]:
    """Case id -> the steward of its last ``accepted`` entry (the one who handled it)."""
    r = RECORDS.c
    e = EVENTS.c
    last = (
        select(e.case_id, func.max(e.seq).label("seq"))
        .select_from(EVENTS.join(RECORDS, e.case_id == r.case_id))
        .where(e.kind == "accepted", in_period)
        .group_by(e.case_id)
        .subquery()
    )
    statement = select(e.case_id, e.actor_id).join(
        last, and_(e.case_id == last.c.case_id, e.seq == last.c.seq)
    )
    return {row.case_id: row.actor_id for row in await session.execute(statement) if row.actor_id}


async def _ratings(
    session: AsyncSession, in_period: ColumnElement[bool]
) -> dict[str, list[tuple[int, bool]]]:
    """Case id -> its reporters' ratings (回访), one per closing."""
    s, r = RATINGS.c, RECORDS.c
    statement = (
        select(s.case_id, s.rating, s.satisfied)
        .select_from(RATINGS.join(RECORDS, s.case_id == r.case_id))
        .where(in_period)
    )
    found: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for row in await session.execute(statement):
        found[row.case_id].append((int(row.rating), bool(row.satisfied)))
    return found


def p90(values: list[float]) -> float | None:
    """Nearest-rank 90th percentile: a value that was actually observed, never interpolated."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _stage(values: list[float]) -> StageStats:
    mean = sum(values) / len(values) if values else None
    return StageStats(count=len(values), mean_seconds=mean, p90_seconds=p90(values))


def summarize(key: str, facts: Iterable[CaseFacts], label: str = "") -> EvaluationRow:
    """One row of the report from the facts of its cases."""
    items = list(facts)
    closed = [f for f in items if f.status == "closed"]
    cancelled = sum(1 for f in items if f.status == "cancelled")
    still_open = [f for f in items if f.status not in ENDED]
    on_time = sum(1 for f in closed if not f.missed)
    due = len(closed) + sum(1 for f in still_open if f.missed)
    reworked = sum(1 for f in items if f.reworked)
    checked = sum(1 for f in items if f.checked)
    ratings = [rating for f in items for rating in f.ratings]
    spans: dict[StageName, list[float]] = {name: [] for name in STAGE_NAMES}
    working: dict[StageName, list[float]] = {name: [] for name in STAGE_NAMES}
    for fact in items:
        for name in STAGE_NAMES:
            if name in fact.working:
                working[name].append(fact.working[name])
        for name, (start_col, end_col) in STAGE_SPANS.items():
            start, end = fact.times.get(start_col), fact.times.get(end_col)
            if start is not None and end is not None and end >= start:
                spans[name].append((end - start).total_seconds())
    return EvaluationRow(
        key=key,
        label=label,
        cases=len(items),
        closed=len(closed),
        cancelled=cancelled,
        open=len(still_open),
        overdue_open=sum(1 for f in still_open if f.overdue),
        on_time=on_time,
        reworked=reworked,
        checked=checked,
        closure_rate=_rate(len(closed), len(items) - cancelled),
        on_time_rate=_rate(on_time, len(closed)),
        rework_rate=_rate(reworked, checked),
        stages={name: _stage(values) for name, values in spans.items()},
        due=due,
        on_time_closure_rate=_rate(on_time, due),
        suspended=sum(1 for f in items if f.suspended),
        suspended_seconds=sum((b - a).total_seconds() for f in items for a, b in f.suspended),
        working_stages={name: _stage(values) for name, values in working.items()},
        rated=len(ratings),
        mean_rating=round(sum(r for r, _ in ratings) / len(ratings), 4) if ratings else None,
        satisfaction_rate=_rate(sum(1 for _, ok in ratings if ok), len(ratings)),
    )


async def evaluate(
    session: AsyncSession,
    group_by: GroupBy,
    period_from: datetime,
    period_to: datetime,
    labels: Mapping[str, str] | Callable[[str], str] | None = None,
) -> EvaluationReport:
    """The evaluation report for one grouping over one period (see the module docstring)."""
    facts = await case_facts(session, period_from, period_to, with_steward=group_by == "steward")
    await attach_working(session, facts, STAGE_SPANS, datetime.now(UTC))
    groups: dict[str, _Group] = defaultdict(_Group)
    for fact in facts:
        key = fact.keys[group_by]
        if key is not None:
            groups[key].facts.append(fact)

    def label_of(key: str) -> str:
        if labels is None:
            return ""
        if callable(labels):
            return labels(key)
        return labels.get(key, "")

    rows = [summarize(key, groups[key].facts, label_of(key)) for key in sorted(groups)]
    return EvaluationReport(
        group_by=group_by,
        period_from=period_from,
        period_to=period_to,
        generated_at=datetime.now(UTC),
        definitions=DEFINITIONS,
        total=summarize("*", facts, "全部 / all"),
        rows=rows,
    )
