"""Reads of the inspection projection: lists, one inspection, one enterprise's hazards.

Used once a workflow has ended (the workflow answers for itself while it runs) and for
lists and search. Plain SQLAlchemy Core, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.inspections.campaign import CampaignProgress
from schemas.inspections.checklists import FormItem, default_checklists
from schemas.inspections.rectification import RectificationSummary
from schemas.inspections.tables import HazardRecord, InspectionFinding, InspectionRecord
from schemas.inspections.workflow import (
    INSPECTOR_ROLE,
    RECORDS,
    InspectionSummary,
    InspectionView,
    ItemState,
)
from schemas.platform.common import Actor, Evidence
from services.platform.db import utc


@dataclass(frozen=True)
class InspectionFilter:
    enterprise_id: str | None = None
    grid_id: str | None = None
    campaign_id: str | None = None
    status: str | None = None
    inspector_id: str | None = None


def summary_of(row: InspectionRecord) -> InspectionSummary:
    data = row.model_dump()
    for name in ("created_at", "visit_at", "visit_started_at", "visit_finished_at", "deadline"):
        data[name] = utc(data[name])
    return InspectionSummary.model_validate(data)


def hazard_of(row: HazardRecord) -> RectificationSummary:
    data = row.model_dump()
    for name in ("found_at", "deadline", "closed_at"):
        data[name] = utc(data[name])
    return RectificationSummary.model_validate(data)


async def list_inspections(
    session: AsyncSession, where: InspectionFilter, limit: int, offset: int
) -> tuple[list[InspectionSummary], int]:
    conditions = [
        col(getattr(InspectionRecord, name)) == value
        for name, value in where.__dict__.items()
        if value is not None
    ]
    total = await session.scalar(
        select(func.count()).select_from(InspectionRecord).where(*conditions)
    )
    rows = (
        await session.execute(
            select(InspectionRecord)
            .where(*conditions)
            .order_by(col(InspectionRecord.created_at).desc(), col(InspectionRecord.inspection_id))
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return [summary_of(r) for r in rows], int(total or 0)


async def projected_inspection(session: AsyncSession, inspection_id: str) -> InspectionView | None:
    row = await session.get(InspectionRecord, inspection_id)
    if row is None:
        return None
    findings = (
        await session.execute(
            select(InspectionFinding)
            .where(col(InspectionFinding.inspection_id) == inspection_id)
            .order_by(col(InspectionFinding.id))
        )
    ).scalars()
    lists = default_checklists()
    items = []
    for f in findings:
        known = lists.item(f.item_code)
        if known is None:
            continue
        items.append(
            ItemState(
                item=FormItem(**known.model_dump(exclude={"applies"})),
                outcome="hazard" if f.outcome == "hazard" else "pass",
                answer=f.answer,
                severity=f.severity,
                note=f.note,
                evidence=[Evidence.model_validate(e) for e in f.evidence],
                source="records" if f.source == "records" else "inspector",
                by=RECORDS
                if f.source == "records"
                else Actor(role=INSPECTOR_ROLE, id=f.inspector_id)
                if f.inspector_id
                else None,
                at=utc(f.recorded_at),
                rectification_id=f.rectification_id,
            )
        )
    return InspectionView(**summary_of(row).model_dump(), items=items, timeline=[])


async def list_hazards(
    session: AsyncSession, enterprise_id: str, open_only: bool = False
) -> list[RectificationSummary]:
    statement = select(HazardRecord).where(col(HazardRecord.enterprise_id) == enterprise_id)
    if open_only:
        statement = statement.where(
            col(HazardRecord.status).in_(("rectifying", "proof_submitted", "escalated"))
        )
    rows = (await session.execute(statement.order_by(col(HazardRecord.found_at)))).scalars()
    return [hazard_of(r) for r in rows]


async def projected_hazard(
    session: AsyncSession, rectification_id: str
) -> RectificationSummary | None:
    row = await session.get(HazardRecord, rectification_id)
    return hazard_of(row) if row else None


async def completed_round_closings(
    session: AsyncSession, progress: CampaignProgress
) -> CampaignProgress:
    """A round's progress with its closed hazards as projected once it has completed.

    Rounds started before patch ``campaign-v2`` completed with their last visit and stopped
    counting the closings their inspections signal; their rectifications went on, and the
    projection goes on counting them (issue 13, C1). Never fewer than the round counted
    itself (the projection may lag behind the signals), never more than it found. A round
    under ``campaign-v2`` completes only once every hazard it found is closed, so its own
    count is already the projection's and this changes nothing (docs/campaigns.md)."""
    if progress.status != "completed":
        return progress
    total = await session.scalar(
        select(func.coalesce(func.sum(col(InspectionRecord.hazards_closed)), 0)).where(
            col(InspectionRecord.campaign_id) == progress.campaign_id
        )
    )
    closed = max(progress.hazards_closed, min(int(total or 0), progress.hazards_found))
    return progress.model_copy(
        update={"hazards_closed": closed, "hazards_open": progress.hazards_found - closed}
    )
