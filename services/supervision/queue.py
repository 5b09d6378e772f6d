"""The center's queue and a department's desk: the open cases that need a person now.

Read from the projection only (``case_record``, and ``case_event`` for what the record does
not hold), never from Temporal: the page is reloaded all day by every supervisor, and with
20,000 open cases each load is one round trip of per-bucket indexed counts and one bounded
list query.

The center's buckets (a case may sit in several):

- ``returned``: a department gave the case back (status ``returned``);
- ``verify``: a result waits for verification (status ``resolved``);
- ``suspension``: a suspension asked for (``suspension_requested``, issue 15) and not yet
  decided (no later ``suspended`` or ``suspension_refused``): the center must decide;
- ``extension``: a department was given more time (``extension_granted``) in the last week;
- ``overdue``: a stage deadline has passed;
- ``head``: escalated to the department's head (``department_head_escalation``);
- ``unclaimed``: no steward took it (``no_steward_available``) and nobody holds it yet.

A department's buckets: ``new`` (sent to it, not taken), ``in_hand`` (taken), ``overdue``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    and_,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.cases.workflow import OPEN_STATUSES
from services.platform.db import SessionFactory, utc
from services.supervision.any_of import AnyOf
from services.supervision.queue_cache import CountsCache, InFlight
from services.supervision.scope import EVERYWHERE, GridScope

CenterBucket = Literal[
    "returned", "verify", "suspension", "extension", "overdue", "head", "unclaimed"
]
DeskBucket = Literal["new", "in_hand", "overdue", "suspended"]
CENTER_BUCKETS: tuple[CenterBucket, ...] = (
    "returned",
    "verify",
    "suspension",
    "extension",
    "overdue",
    "head",
    "unclaimed",
)
DESK_BUCKETS: tuple[DeskBucket, ...] = ("new", "in_hand", "overdue", "suspended")
# statuses a person must still act on: the open ones, a returned case, a result to verify
PENDING = (*OPEN_STATUSES, "returned", "resolved")
EXTENSION_KINDS = ("extension_granted",)
# the entries issue 15's suspension writes (none are written before that merge)
SUSPENSION_REQUEST = "suspension_requested"
SUSPENSION_DECISIONS = ("suspended", "suspension_refused")
HEAD_KINDS = ("department_head_escalation",)
UNCLAIMED_KINDS = ("no_steward_available",)
RECENT = timedelta(days=7)
PAGE = 50
# "in the last week", evaluated when a statement runs: the statements are built once
_RECENT_SINCE = bindparam(
    "recent_since", type_=DateTime(timezone=True), callable_=lambda: datetime.now(UTC) - RECENT
)


@dataclass(frozen=True)
class QueueFilter:
    """The page's filters; None means any."""

    grid_id: str | None = None
    case_type: str | None = None
    department: str | None = None
    source: str | None = None
    scope: GridScope = EVERYWHERE

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [col(CaseRecord.status).in_(PENDING)]
        for name in ("grid_id", "case_type", "department", "source"):
            value = getattr(self, name)
            if value:
                out.append(col(getattr(CaseRecord, name)) == value)
        if not self.scope.all:
            out.append(self.scope.clause())
        return out


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A case as the queue and the desk list it: what their table shows and no more (the
    case page reads the rest). Plain columns, not an ORM object and its ``CaseSummary``:
    building those was a third of a queue load's CPU."""

    case_id: str
    case_type: str
    status: str
    grid_id: str
    department: str
    deadline: datetime | None
    overdue: bool
    reported_at: datetime
    # the stage's limit, for saying the deadline in working time (``case_record.deadline_span_s``)
    deadline_span: timedelta | None


_ROW_COLUMNS = tuple(
    col(getattr(CaseRecord, name)) for name in (*QueueRow.__slots__[:-1], "deadline_span_s")
)


@dataclass
class Queue:
    """Counts of every bucket, and the cases of the one chosen."""

    counts: dict[str, int]
    bucket: str
    cases: list[QueueRow] = field(default_factory=list)
    as_of: datetime = field(default_factory=lambda: datetime.now(UTC))


def _has_event(kinds: tuple[str, ...], recent: bool = False) -> ColumnElement[bool]:
    """The case's timeline holds an entry of ``kinds`` (in the last week if ``recent``),
    found through ``ix_case_event_kind_at`` (kind, at, case_id) alone."""
    conditions: list[ColumnElement[bool]] = [col(CaseEvent.kind).in_(kinds)]
    if recent:
        conditions.append(col(CaseEvent.at) >= _RECENT_SINCE)
    return AnyOf(col(CaseRecord.case_id), select(col(CaseEvent.case_id)).where(*conditions))


def _suspension_pending() -> ColumnElement[bool]:
    """A suspension request with no decision after it in the timeline."""
    request, decision = aliased(CaseEvent), aliased(CaseEvent)
    decided = (
        select(col(decision.id))
        .where(
            col(decision.case_id) == col(request.case_id),
            col(decision.seq) > col(request.seq),
            col(decision.kind).in_(SUSPENSION_DECISIONS),
        )
        .exists()
    )
    asked = select(col(request.case_id)).where(col(request.kind) == SUSPENSION_REQUEST, ~decided)
    return AnyOf(col(CaseRecord.case_id), asked)


def center_bucket(bucket: str) -> ColumnElement[bool]:
    """The WHERE of one of the center's buckets."""
    status = col(CaseRecord.status)
    if bucket == "returned":
        return status == "returned"
    if bucket == "verify":
        return status == "resolved"
    if bucket == "suspension":
        return _suspension_pending()
    if bucket == "extension":
        return and_(status.in_(OPEN_STATUSES), _has_event(EXTENSION_KINDS, recent=True))
    if bucket == "overdue":
        return col(CaseRecord.overdue).is_(True)
    if bucket == "head":
        return and_(status.in_(OPEN_STATUSES), _has_event(HEAD_KINDS))
    if bucket == "unclaimed":
        return and_(status.in_(("reported", "filed", "escalated")), _has_event(UNCLAIMED_KINDS))
    raise ValueError(f"no bucket {bucket}")


def desk_bucket(bucket: str, department: str) -> ColumnElement[bool]:
    """The WHERE of one of a department's buckets: cases it holds now."""
    holds = and_(col(CaseRecord.handler) == "department", col(CaseRecord.department) == department)
    if bucket == "new":
        return and_(holds, col(CaseRecord.status) == "escalated")
    if bucket == "in_hand":
        return and_(holds, col(CaseRecord.status) == "department_handling")
    if bucket == "overdue":
        return and_(
            holds,
            col(CaseRecord.status).in_(("escalated", "department_handling")),
            col(CaseRecord.overdue).is_(True),
        )
    if bucket == "suspended":  # 缓办 approved: the clock stops until the center resumes it
        return and_(holds, col(CaseRecord.status) == "suspended")
    raise ValueError(f"no bucket {bucket}")


def _count_statement(
    where: list[ColumnElement[bool]],
    buckets: dict[str, ColumnElement[bool]],
    *by: Any,
) -> Any:
    """Every bucket's count in one round trip: a UNION ALL of one count per bucket, each
    driven by its own index (status, overdue, or the timeline's kind), so the cost follows
    the cases that need a person, not every open case of the town. With ``by`` columns,
    each bucket is counted per value of them (rows ``bucket, *by, n``)."""
    return union_all(
        *(
            select(literal(name).label("bucket"), *by, func.count().label("n"))
            .select_from(CaseRecord)
            .where(*where, condition)
            .group_by(*by)
            for name, condition in buckets.items()
        )
    )


def _list_statement(where: list[ColumnElement[bool]], limit: int) -> Select[Any]:
    """The oldest deadline first (cases without one last), then the oldest report."""
    return (
        select(*_ROW_COLUMNS)
        .where(*where)
        .order_by(
            col(CaseRecord.deadline).is_(None),
            col(CaseRecord.deadline),
            col(CaseRecord.reported_at),
            col(CaseRecord.case_id),
        )
        .limit(limit)
    )


# Statements built once per (filters, bucket) and reused: building the seven buckets'
# conditions anew cost ~2.5 ms of CPU per load, more than reading the list.
@lru_cache(maxsize=1024)
def _center_statements(filters: QueueFilter, bucket: str, limit: int) -> tuple[Any, Select[Any]]:
    where = filters.conditions()
    buckets: dict[str, ColumnElement[bool]] = {name: center_bucket(name) for name in CENTER_BUCKETS}
    return _count_statement(where, buckets), _list_statement([*where, buckets[bucket]], limit)


@lru_cache(maxsize=256)
def _grouped_counts_statement(base: QueueFilter) -> Any:
    """Every bucket's count per grid under ``base`` (no grid filter), in one round trip."""
    buckets: dict[str, ColumnElement[bool]] = {name: center_bucket(name) for name in CENTER_BUCKETS}
    return _count_statement(base.conditions(), buckets, col(CaseRecord.grid_id))


def _keep_by_grid(
    cache: CountsCache, base: QueueFilter, rows: list[Any], as_of: datetime
) -> dict[str | None, dict[str, int]]:
    """Keep the scope's counts and each of its grids' (one grouped count fills the cache
    for the page unfiltered and for every grid filter: 30 % of loads are filtered by a
    grid, and each grid's first load was a cold count of its own, the queue's p95-p99)."""
    total: dict[str, int] = dict.fromkeys(CENTER_BUCKETS, 0)
    by_grid: dict[str | None, dict[str, int]] = {None: total}
    for name, grid, n in rows:
        by_grid.setdefault(grid, dict.fromkeys(CENTER_BUCKETS, 0))[name] = int(n)
        total[name] += int(n)
    for grid, counts in by_grid.items():
        key = replace(base, grid_id=grid)
        if cache.get(key) is None:  # a fresh entry keeps its time until it expires
            cache.put(key, counts, as_of)
    return by_grid


@lru_cache(maxsize=1024)
def _desk_statements(department: str, bucket: str, limit: int) -> tuple[Any, Select[Any]]:
    buckets: dict[str, ColumnElement[bool]] = {
        name: desk_bucket(name, department) for name in DESK_BUCKETS
    }
    counts = _count_statement([col(CaseRecord.department) == department], buckets)
    return counts, _list_statement([buckets[bucket]], limit)


async def _counts(session: AsyncSession, statement: Any, names: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(names, 0)
    counts.update({name: int(n) for name, n in await session.execute(statement)})
    return counts


async def _cases(session: AsyncSession, statement: Select[Any]) -> list[QueueRow]:
    """The rows as the tables show them (SQLite hands back naive UTC times)."""
    return [
        QueueRow(
            id_,
            type_,
            status,
            grid,
            dept,
            utc(deadline),
            overdue,
            utc(reported),  # type: ignore[arg-type]
            None if span is None else timedelta(seconds=span),
        )
        for id_, type_, status, grid, dept, deadline, overdue, reported, span in (
            await session.execute(statement)
        )
    ]


async def center_queue(
    session: AsyncSession,
    filters: QueueFilter,
    bucket: str,
    limit: int = PAGE,
    cache: CountsCache | None = None,
    lists: InFlight[list[QueueRow]] | None = None,
    sessions: SessionFactory | None = None,
) -> Queue:
    """The center's counts under the filters (from ``cache`` when it has them: seconds
    old at most, or, with ``sessions``, a little older while a count on a session of its
    own refreshes them), and up to ``limit`` cases of ``bucket``, read now (loads asking
    for the same list while ``lists`` has it being read share that read)."""
    now = datetime.now(UTC)
    chosen = bucket if bucket in CENTER_BUCKETS else CENTER_BUCKETS[0]
    count_statement, list_statement = _center_statements(filters, chosen, limit)

    base = replace(filters, grid_id=None)

    async def count_on(on: AsyncSession, as_of: datetime) -> tuple[dict[str, int], datetime]:
        if cache is None:
            return await _counts(on, count_statement, CENTER_BUCKETS), as_of
        rows = list(await on.execute(_grouped_counts_statement(base)))
        by_grid = _keep_by_grid(cache, base, rows, as_of)
        return dict(by_grid.get(filters.grid_id) or dict.fromkeys(CENTER_BUCKETS, 0)), as_of

    async def count() -> tuple[dict[str, int], datetime]:
        return await count_on(session, now)

    async def refresh() -> tuple[dict[str, int], datetime]:
        assert sessions is not None
        async with sessions() as own:
            return await count_on(own, datetime.now(UTC))

    async def read() -> list[QueueRow]:
        return await _cases(session, list_statement)

    behind = refresh if sessions is not None else None
    counts, as_of = await (count() if cache is None else cache.shared(filters, count, behind))
    key = (filters, chosen, limit)
    cases = await (read() if lists is None else lists.shared(key, read))
    return Queue(counts=counts, bucket=chosen, cases=cases, as_of=as_of)


async def desk_queue(
    session: AsyncSession, department: str, bucket: str, limit: int = PAGE
) -> Queue:
    """A department's counts and up to ``limit`` cases of ``bucket`` (its own cases only)."""
    chosen = bucket if bucket in DESK_BUCKETS else DESK_BUCKETS[0]
    count_statement, list_statement = _desk_statements(department, chosen, limit)
    counts = await _counts(session, count_statement, DESK_BUCKETS)
    cases = await _cases(session, list_statement)
    return Queue(counts=counts, bucket=chosen, cases=cases)
