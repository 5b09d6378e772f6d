"""The evaluation page's numbers: the evaluation table and daily series, under the page's
filters and the supervisor's grid scope.

Built on ``services.supervision.evaluation.case_facts`` (one grouped SQL query, the same
definitions as ``GET /stats/evaluation``), filtered here by grid scope, grid, type,
department and source, so the page, its charts and its exports agree on every number:

- the table: one ``EvaluationRow`` per grid or department, cases reported in the period;
- **on-time rate** on day d: of the cases closed on day d, those with no missed deadline;
- **backlog** at the end of day d: cases reported by then and neither closed nor cancelled
  by then (cases reported up to ``LOOKBACK`` before the period count, so a backlog carried
  into the period shows; a cancelled case leaves the backlog when it is cancelled, per its
  record's ``closed_at``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.cases.tables import CaseRecord
from schemas.supervision.evaluation import EvaluationRow
from services.platform.db import utc
from services.supervision.evaluation import CaseFacts, case_facts, summarize
from services.supervision.scope import EVERYWHERE, GridScope

Grouping = Literal["grid", "department"]
LOOKBACK = timedelta(days=60)
MAX_DAYS = 92


@dataclass(frozen=True)
class PeriodFilter:
    """The evaluation page's (and its exports') filters: cases reported in [start, end)."""

    start: datetime
    end: datetime
    grid_id: str | None = None
    case_type: str | None = None
    department: str | None = None
    source: str | None = None
    scope: GridScope = EVERYWHERE

    def keeps(self, fact: CaseFacts, sources: dict[str, str]) -> bool:
        keys = fact.keys
        return (
            self.scope.covers(keys["grid"])
            and (self.grid_id is None or keys["grid"] == self.grid_id)
            and (self.case_type is None or keys["case_type"] == self.case_type)
            and (self.department is None or keys["department"] == self.department)
            and (self.source is None or sources.get(fact.case_id) == self.source)
        )


@dataclass
class Series:
    """Daily points of one group: on-time rate (None on a day nothing closed) and backlog."""

    key: str
    on_time: list[float | None] = field(default_factory=list)
    backlog: list[int] = field(default_factory=list)


@dataclass
class Trends:
    days: list[datetime]
    by_group: dict[Grouping, list[Series]]


async def _facts(
    session: AsyncSession, filters: PeriodFilter, start: datetime
) -> tuple[list[CaseFacts], dict[str, datetime]]:
    """The filtered facts from ``start`` to the period's end, and cancelled cases' end times."""
    facts = await case_facts(session, start, filters.end)
    sources: dict[str, str] = {}
    if filters.source is not None:
        rows = await session.execute(
            select(col(CaseRecord.case_id), col(CaseRecord.source)).where(
                col(CaseRecord.reported_at) >= start,
                col(CaseRecord.reported_at) < filters.end,
                col(CaseRecord.source) == filters.source,
            )
        )
        sources = {case_id: source for case_id, source in rows}
    kept = [f for f in facts if filters.keeps(f, sources)]
    cancelled_ids = [f.case_id for f in kept if f.status == "cancelled"]
    ended: dict[str, datetime] = {}
    for chunk in range(0, len(cancelled_ids), 500):
        ends = await session.execute(
            select(col(CaseRecord.case_id), col(CaseRecord.closed_at)).where(
                col(CaseRecord.case_id).in_(cancelled_ids[chunk : chunk + 500])
            )
        )
        for case_id, closed_at in ends:
            if (at := utc(closed_at)) is not None:
                ended[case_id] = at
    return kept, ended


async def table(
    session: AsyncSession, filters: PeriodFilter, group_by: Grouping
) -> tuple[EvaluationRow, list[EvaluationRow]]:
    """The total and one row per group, cases reported in the period."""
    facts, _ = await _facts(session, filters, filters.start)
    groups: dict[str, list[CaseFacts]] = defaultdict(list)
    for fact in facts:
        key = fact.keys[group_by]
        if key is not None:
            groups[key].append(fact)
    rows = [summarize(key, groups[key]) for key in sorted(groups)]
    return summarize("*", facts), rows


def _days(filters: PeriodFilter) -> list[datetime]:
    first = filters.start.astimezone(UTC)
    count = min(MAX_DAYS, max(1, -(-(filters.end - filters.start) // timedelta(days=1))))
    return [first + timedelta(days=n) for n in range(count)]


async def trends(session: AsyncSession, filters: PeriodFilter, top: int = 6) -> Trends:
    """Daily on-time rate and backlog per grid and per department (the ``top`` groups by
    backlog at the period's end, so a chart stays readable)."""
    facts, cancelled_at = await _facts(session, filters, filters.start - LOOKBACK)
    days = _days(filters)
    out: dict[Grouping, list[Series]] = {}
    for grouping in ("grid", "department"):
        groups: dict[str, list[CaseFacts]] = defaultdict(list)
        for fact in facts:
            if (key := fact.keys[grouping]) is not None:
                groups[key].append(fact)
        series = [_series(key, items, days, cancelled_at) for key, items in groups.items()]
        series.sort(key=lambda s: (-(s.backlog[-1] if s.backlog else 0), s.key))
        out[grouping] = series[:top]
    return Trends(days=days, by_group=out)


def _series(
    key: str, facts: list[CaseFacts], days: list[datetime], cancelled_at: dict[str, datetime]
) -> Series:
    series = Series(key=key)
    for day in days:
        day_end = day + timedelta(days=1)
        closed_today = [
            f
            for f in facts
            if f.status == "closed" and (at := f.times["closed_at"]) and day <= at < day_end
        ]
        on_time = sum(1 for f in closed_today if not f.missed)
        series.on_time.append(round(on_time / len(closed_today), 4) if closed_today else None)
        series.backlog.append(sum(1 for f in facts if _open_at(f, day_end, cancelled_at)))
    return series


def _open_at(fact: CaseFacts, moment: datetime, cancelled_at: dict[str, datetime]) -> bool:
    reported = fact.times["filed_at"]
    if reported is None or reported >= moment:
        return False
    ended = fact.times["closed_at"] or cancelled_at.get(fact.case_id)
    if fact.status == "cancelled" and ended is None:
        return False
    return ended is None or ended >= moment
