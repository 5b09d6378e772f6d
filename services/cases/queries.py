"""Reads of the case projection: lists, one case, its timeline (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.cases.views import CaseSummary, CaseView, TimelineEntry
from schemas.platform.common import Actor, Evidence, GeoPoint
from services.platform.db import utc
from services.supervision.scope import GridScope


@dataclass(frozen=True)
class CaseFilter:
    """The filters a supervisor's list offers; None means any."""

    status: str | None = None
    case_type: str | None = None
    grid_id: str | None = None
    department: str | None = None
    steward_id: str | None = None
    source: str | None = None
    overdue: bool | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    # a department's own list: the cases sent to it or acted on by it, per the timeline
    held_by: str | None = None
    # a supervisor's grids (``services.supervision.scope``); None: the whole town
    scope: GridScope | None = None


def held_by(department: str) -> ColumnElement[bool]:
    """Cases the department holds or has held: the timeline shows the case sent to it
    (every hand-over is an ``escalated`` entry naming it) or an action of it."""
    sent = (col(CaseEvent.kind) == "escalated") & (
        col(CaseEvent.data)["department"].as_string() == department
    )
    acted = (col(CaseEvent.actor_role) == "department") & (col(CaseEvent.actor_id) == department)
    return (
        select(col(CaseEvent.id))
        .where(col(CaseEvent.case_id) == col(CaseRecord.case_id), sent | acted)
        .exists()
    )


def summary_of(row: CaseRecord) -> CaseSummary:
    reported_at = utc(row.reported_at)
    assert reported_at is not None
    return CaseSummary(
        case_id=row.case_id,
        case_type=row.case_type,
        status=row.status,
        source=row.source,
        priority=row.priority,
        grid_id=row.grid_id,
        micro_grid_id=row.micro_grid_id,
        department=row.department,
        handler=row.handler,
        steward_id=row.steward_id,
        location=GeoPoint(lat=row.lat, lon=row.lon),
        description=row.description,
        reported_at=reported_at,
        deadline=utc(row.deadline),
        deadline_span=(
            timedelta(seconds=row.deadline_span_s) if row.deadline_span_s is not None else None
        ),
        waiting_for=row.waiting_for,
        overdue=row.overdue,
        rework_count=row.rework_count,
        urge_count=row.urge_count,
    )


def entry_of(row: CaseEvent) -> TimelineEntry:
    at = utc(row.at)
    assert at is not None
    actor = Actor(role=row.actor_role, id=row.actor_id) if row.actor_role and row.actor_id else None
    return TimelineEntry(
        seq=row.seq,
        kind=row.kind,
        status=row.status,
        at=at,
        actor=actor,
        note=row.note,
        evidence=[Evidence.model_validate(e) for e in row.evidence],
        data=row.data,
    )


async def list_cases(
    session: AsyncSession, where: CaseFilter, limit: int, offset: int
) -> tuple[list[CaseSummary], int]:
    conditions = []
    for name in ("status", "case_type", "grid_id", "department", "steward_id", "source"):
        value = getattr(where, name)
        if value is not None:
            conditions.append(col(getattr(CaseRecord, name)) == value)
    if where.held_by is not None:
        conditions.append(held_by(where.held_by))
    if where.scope is not None and not where.scope.all:
        conditions.append(where.scope.clause())
    if where.overdue is not None:
        conditions.append(col(CaseRecord.overdue).is_(where.overdue))
    if where.reported_from is not None:
        conditions.append(col(CaseRecord.reported_at) >= where.reported_from)
    if where.reported_to is not None:
        conditions.append(col(CaseRecord.reported_at) < where.reported_to)
    total = (
        await session.execute(select(func.count()).select_from(CaseRecord).where(*conditions))
    ).scalar_one()
    rows = (
        await session.execute(
            select(CaseRecord)
            .where(*conditions)
            .order_by(col(CaseRecord.reported_at).desc(), col(CaseRecord.case_id))
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return [summary_of(r) for r in rows], int(total)


async def timeline(session: AsyncSession, case_id: str) -> list[TimelineEntry]:
    rows = (
        await session.execute(
            select(CaseEvent).where(col(CaseEvent.case_id) == case_id).order_by(col(CaseEvent.seq))
        )
    ).scalars()
    return [entry_of(r) for r in rows]


async def projected_case(session: AsyncSession, case_id: str) -> CaseView | None:
    row = await session.get(CaseRecord, case_id)
    if row is None:
        return None
    return CaseView(**summary_of(row).model_dump(), timeline=await timeline(session, case_id))
