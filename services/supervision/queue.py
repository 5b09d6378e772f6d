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

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.cases.views import CaseSummary
from schemas.cases.workflow import OPEN_STATUSES
from services.cases.queries import summary_of
from services.supervision.any_of import AnyOf
from services.supervision.queue_cache import CountsCache
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


@dataclass
class Queue:
    """Counts of every bucket, and the cases of the one chosen."""

    counts: dict[str, int]
    bucket: str
    cases: list[CaseSummary] = field(default_factory=list)
    as_of: datetime = field(default_factory=lambda: datetime.now(UTC))


def _has_event(kinds: tuple[str, ...], since: datetime | None = None) -> ColumnElement[bool]:
    """The case's timeline holds an entry of ``kinds`` (``case_event.kind`` is indexed)."""
    conditions: list[ColumnElement[bool]] = [col(CaseEvent.kind).in_(kinds)]
    if since is not None:
        conditions.append(col(CaseEvent.at) >= since)
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


def center_bucket(bucket: str, now: datetime) -> ColumnElement[bool]:
    """The WHERE of one of the center's buckets."""
    status = col(CaseRecord.status)
    if bucket == "returned":
        return status == "returned"
    if bucket == "verify":
        return status == "resolved"
    if bucket == "suspension":
        return _suspension_pending()
    if bucket == "extension":
        return and_(status.in_(OPEN_STATUSES), _has_event(EXTENSION_KINDS, now - RECENT))
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


async def _counts(
    session: AsyncSession, where: list[ColumnElement[bool]], buckets: dict[str, ColumnElement[bool]]
) -> dict[str, int]:
    """Every bucket's count in one round trip: a UNION ALL of one count per bucket, each
    driven by its own index (status, overdue, or the timeline's kind), so the cost follows
    the cases that need a person, not every open case of the town."""
    parts = [
        select(literal(name).label("bucket"), func.count().label("n"))
        .select_from(CaseRecord)
        .where(*where, condition)
        for name, condition in buckets.items()
    ]
    rows = await session.execute(union_all(*parts))
    counts = dict.fromkeys(buckets, 0)
    counts.update({name: int(n) for name, n in rows})
    return counts


async def _cases(
    session: AsyncSession, where: list[ColumnElement[bool]], limit: int
) -> list[CaseSummary]:
    """The oldest deadline first (cases without one last), then the oldest report."""
    rows = (
        await session.execute(
            select(CaseRecord)
            .where(*where)
            .order_by(
                col(CaseRecord.deadline).is_(None),
                col(CaseRecord.deadline),
                col(CaseRecord.reported_at),
                col(CaseRecord.case_id),
            )
            .limit(limit)
        )
    ).scalars()
    return [summary_of(row) for row in rows]


async def center_queue(
    session: AsyncSession,
    filters: QueueFilter,
    bucket: str,
    limit: int = PAGE,
    cache: CountsCache | None = None,
) -> Queue:
    """The center's counts under the filters (from ``cache`` when it has them: seconds
    old at most), and up to ``limit`` cases of ``bucket`` (always read now)."""
    now = datetime.now(UTC)
    where = filters.conditions()
    buckets: dict[str, ColumnElement[bool]] = {
        name: center_bucket(name, now) for name in CENTER_BUCKETS
    }

    async def count() -> tuple[dict[str, int], datetime]:
        return await _counts(session, where, buckets), now

    counts, as_of = await (count() if cache is None else cache.shared(filters, count))
    chosen = bucket if bucket in buckets else CENTER_BUCKETS[0]
    cases = await _cases(session, [*where, buckets[chosen]], limit)
    return Queue(counts=counts, bucket=chosen, cases=cases, as_of=as_of)


async def desk_queue(
    session: AsyncSession, department: str, bucket: str, limit: int = PAGE
) -> Queue:
    """A department's counts and up to ``limit`` cases of ``bucket`` (its own cases only)."""
    buckets: dict[str, ColumnElement[bool]] = {
        name: desk_bucket(name, department) for name in DESK_BUCKETS
    }
    counts = await _counts(session, [col(CaseRecord.department) == department], buckets)
    chosen = bucket if bucket in buckets else DESK_BUCKETS[0]
    cases = await _cases(session, [buckets[chosen]], limit)
    return Queue(counts=counts, bucket=chosen, cases=cases)
