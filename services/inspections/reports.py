"""Reports of joint inspection from the projection: per enterprise, department, grid, round.

Counting is SQL (``count``/``sum(case ...)``/``group by`` only, the same on SQLite and
PostgreSQL); anything with dates beyond ``min``/``max`` is done in Python, because date
arithmetic is where the two dialects differ. The round report sets the measured round
time against a model of five separate departmental rounds run by the same inspectors
(``services.inspections.inspector_calendar.simulate_round``), and counts the visits saved.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Integer, and_, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.inspections.api import (
    DepartmentInspectionReport,
    EnterpriseReport,
    GridReport,
    RoundReport,
)
from schemas.inspections.checklists import default_checklists
from schemas.inspections.tables import Enterprise, HazardRecord, InspectionFinding, InspectionRecord
from services.inspections.inspector_calendar import simulate_round, working_days_between
from services.platform.db import utc

OPEN = ("rectifying", "proof_submitted", "escalated")


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """``count(*) filter (where ...)`` in a form both SQLite and PostgreSQL accept."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def per_enterprise(
    session: AsyncSession, grid_id: str | None = None, limit: int = 500, offset: int = 0
) -> list[EnterpriseReport]:
    visits = (
        select(
            col(InspectionRecord.enterprise_id).label("eid"),
            func.count().label("inspections"),
            func.max(InspectionRecord.visit_finished_at).label("last_visit_at"),
        )
        .where(col(InspectionRecord.visit_finished_at).is_not(None))
        .group_by(col(InspectionRecord.enterprise_id))
        .subquery()
    )
    hazards = (
        select(
            col(HazardRecord.enterprise_id).label("eid"),
            func.count().label("hazards"),
            _count_if(col(HazardRecord.status).in_(OPEN)).label("open"),
            _count_if(col(HazardRecord.status) == "closed").label("closed"),
            _count_if(col(HazardRecord.escalated).is_(True)).label("escalated"),
            _count_if(
                and_(col(HazardRecord.overdue).is_(True), col(HazardRecord.status).in_(OPEN))
            ).label("overdue"),
        )
        .group_by(col(HazardRecord.enterprise_id))
        .subquery()
    )
    statement = (
        select(Enterprise, visits, hazards)
        .outerjoin(visits, visits.c.eid == col(Enterprise.id))
        .outerjoin(hazards, hazards.c.eid == col(Enterprise.id))
        .order_by(col(Enterprise.id))
        .limit(limit)
        .offset(offset)
    )
    if grid_id:
        statement = statement.where(col(Enterprise.grid_id) == grid_id)
    rows = (await session.execute(statement)).mappings()
    return [
        EnterpriseReport(
            enterprise_id=r["Enterprise"].id,
            name=r["Enterprise"].name,
            grid_id=r["Enterprise"].grid_id,
            risk_level=r["Enterprise"].risk_level,
            inspections=r["inspections"] or 0,
            last_visit_at=utc(r["last_visit_at"]),
            hazards=r["hazards"] or 0,
            open=r["open"] or 0,
            closed=r["closed"] or 0,
            escalated=r["escalated"] or 0,
            overdue=r["overdue"] or 0,
        )
        for r in rows
    ]


async def per_department(session: AsyncSession) -> list[DepartmentInspectionReport]:
    checked = (
        await session.execute(
            select(
                col(InspectionFinding.department),
                func.count(distinct(col(InspectionFinding.inspection_id))),
                func.count(),
            ).group_by(col(InspectionFinding.department))
        )
    ).all()
    hazards = {
        row[0]: row
        for row in (
            await session.execute(
                select(
                    col(HazardRecord.department),
                    func.count(),
                    _count_if(col(HazardRecord.severity) == "critical"),
                    _count_if(col(HazardRecord.severity) == "major"),
                    _count_if(col(HazardRecord.severity) == "minor"),
                    _count_if(col(HazardRecord.status).in_(OPEN)),
                    _count_if(col(HazardRecord.status) == "closed"),
                    _count_if(col(HazardRecord.escalated).is_(True)),
                    func.avg(HazardRecord.hours_to_close),
                ).group_by(col(HazardRecord.department))
            )
        ).all()
    }
    reports = []
    for department, inspections, items in checked:
        h = hazards.get(department)
        reports.append(
            DepartmentInspectionReport(
                department=department,
                inspections=inspections,
                items_checked=items,
                hazards=h[1] if h else 0,
                critical=h[2] if h else 0,
                major=h[3] if h else 0,
                minor=h[4] if h else 0,
                open=h[5] if h else 0,
                closed=h[6] if h else 0,
                escalated=h[7] if h else 0,
                avg_hours_to_close=float(h[8]) if h and h[8] is not None else None,
            )
        )
    order: dict[str, int] = {d: n for n, d in enumerate(default_checklists().departments)}
    return sorted(reports, key=lambda r: (order.get(r.department, 99), r.department))


async def per_grid(session: AsyncSession) -> list[GridReport]:
    enterprises = (
        await session.execute(
            select(
                col(Enterprise.grid_id),
                func.count(),
            ).group_by(col(Enterprise.grid_id))
        )
    ).all()
    inspected: dict[str, int] = dict(
        (
            await session.execute(
                select(
                    col(InspectionRecord.grid_id),
                    func.count(distinct(col(InspectionRecord.enterprise_id))),
                )
                .where(col(InspectionRecord.visit_finished_at).is_not(None))
                .group_by(col(InspectionRecord.grid_id))
            )
        ).all()
    )
    hazards = {
        row[0]: row
        for row in (
            await session.execute(
                select(
                    col(HazardRecord.grid_id),
                    func.count(),
                    _count_if(col(HazardRecord.status).in_(OPEN)),
                    _count_if(col(HazardRecord.status) == "closed"),
                    _count_if(
                        and_(
                            col(HazardRecord.overdue).is_(True), col(HazardRecord.status).in_(OPEN)
                        )
                    ),
                ).group_by(col(HazardRecord.grid_id))
            )
        ).all()
    }
    return [
        GridReport(
            grid_id=grid,
            enterprises=count,
            inspected=inspected.get(grid, 0),
            hazards=hazards[grid][1] if grid in hazards else 0,
            open=hazards[grid][2] if grid in hazards else 0,
            closed=hazards[grid][3] if grid in hazards else 0,
            overdue=hazards[grid][4] if grid in hazards else 0,
        )
        for grid, count in sorted(enterprises)
    ]


async def round_report(session: AsyncSession, campaign_id: str) -> RoundReport | None:
    """One round: measured time, visits made and saved, and the separate-rounds model."""
    in_round = col(InspectionRecord.campaign_id) == campaign_id
    visited = col(InspectionRecord.visit_finished_at).is_not(None)
    head = (
        await session.execute(
            select(
                func.count(),
                _count_if(visited),
                func.count(distinct(col(InspectionRecord.inspector_id))),
                func.min(InspectionRecord.created_at),
                func.max(InspectionRecord.visit_finished_at),
                func.coalesce(func.sum(InspectionRecord.hazards), 0),
                func.coalesce(func.sum(InspectionRecord.hazards_closed), 0),
            ).where(in_round)
        )
    ).one()
    total, enterprises, inspectors = head[0], head[1], head[2]
    if not total:
        return None
    started, last = utc(head[3]), utc(head[4])
    # One departmental visit per (enterprise, department) with that department's items.
    per_department = (
        await session.execute(
            select(
                col(InspectionFinding.department),
                col(InspectionFinding.inspection_id),
                func.sum(case((col(InspectionFinding.source) == "inspector", 1), else_=0)).cast(
                    Integer
                ),
            )
            .join(
                InspectionRecord,
                col(InspectionRecord.inspection_id) == col(InspectionFinding.inspection_id),
            )
            .where(in_round)
            .group_by(col(InspectionFinding.department), col(InspectionFinding.inspection_id))
            .order_by(col(InspectionFinding.department), col(InspectionFinding.inspection_id))
        )
    ).all()
    visit = default_checklists().visit
    separate = len(per_department)
    model_end, model_days = None, 0
    if started is not None and separate and inspectors:
        minutes = [visit.minutes_for(int(items)) for _, _, items in per_department]
        model_end, model_days = simulate_round(minutes, int(inspectors), started, visit)
    return RoundReport(
        campaign_id=campaign_id,
        enterprises_visited=int(enterprises),
        inspectors=int(inspectors),
        started_at=started,
        last_visit_at=last,
        round_time=(last - started) if last and started else None,
        working_days=working_days_between(started, last, visit) if last and started else 0,
        joint_visits=int(enterprises),
        separate_visits=separate,
        visits_saved=separate - int(enterprises),
        visits_per_enterprise_joint=1.0 if enterprises else 0.0,
        visits_per_enterprise_separate=separate / enterprises if enterprises else 0.0,
        separate_rounds_model_end=model_end,
        separate_rounds_model_working_days=model_days,
        hazards=int(head[5]),
        hazards_closed=int(head[6]),
    )
