"""The evaluation report as people read it: labelled rows over a bounded period.

Shared by ``GET /stats/evaluation`` and the supervisor board; the counting itself is
``services.supervision.evaluation`` (SQL over the projection).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.deps import AppState
from schemas.stewards.tables import Steward
from schemas.supervision.evaluation import EvaluationReport, GroupBy
from services.supervision.evaluation import evaluate

MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30


async def labelled(report: EvaluationReport, state: AppState, session: AsyncSession) -> None:
    """Give each row a human name: grid name, department or case type in both languages."""
    catalog = state.catalog
    names: dict[str, str] = {}
    if report.group_by == "steward" and report.rows:
        ids = [row.key for row in report.rows]
        query = select(col(Steward.id), col(Steward.name)).where(col(Steward.id).in_(ids))
        names = {steward_id: name for steward_id, name in await session.execute(query)}
    for row in report.rows:
        if report.group_by == "grid":
            grid = state.grids.grid(row.key)
            row.label = grid.name if grid else ""
        elif report.group_by == "department":
            department = catalog.department(row.key)
            row.label = f"{department.name_zh} / {department.name_en}" if department else ""
        elif report.group_by == "case_type":
            case_type = catalog.case_type(row.key)
            row.label = f"{case_type.name_zh} / {case_type.name_en}" if case_type else ""
        else:
            row.label = names.get(row.key, "")


async def build_report(
    state: AppState,
    session: AsyncSession,
    group_by: GroupBy,
    period_from: datetime | None,
    period_to: datetime | None,
) -> EvaluationReport:
    """The labelled report; the period defaults to the last 30 days and is at most a year."""
    end = period_to or datetime.now(UTC)
    start = period_from or end - timedelta(days=DEFAULT_PERIOD_DAYS)
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, "from and to must carry a time zone")
    if start >= end:
        raise HTTPException(422, "from must be before to")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise HTTPException(422, f"the period may span at most {MAX_PERIOD_DAYS} days")
    report = await evaluate(session, group_by, start, end)
    await labelled(report, state, session)
    return report
