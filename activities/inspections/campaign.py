"""I/O of inspection rounds: plan the round, start a batch of its inspections.

Inspections are started here, with the worker's own Temporal client, rather than as child
workflows of the campaign: the campaign continues as new every ``continue_every`` starts,
and inspections must outlive it anyway (their rectifications run for weeks). One activity
per batch also keeps the campaign's history at a few events per batch instead of three per
enterprise. Ids are fixed by the campaign, so a retried batch starts nothing twice.
(It also sidesteps a known bug of the Java time-skipping test server, where a parent that
continues as new with running children freezes time: temporalio/sdk-java#1540.)
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlmodel import col
from temporalio import activity

from constants import ACT_PLAN_CAMPAIGN, ACT_START_INSPECTIONS
from schemas.inspections.campaign import CampaignFilter, CampaignPlan, PlannedEnterprise, StartBatch
from schemas.inspections.checklists import Checklists, default_checklists
from schemas.inspections.tables import Enterprise, Inspector
from services.inspections.operations import start_inspection_workflow
from services.platform.db import SessionFactory

RISK_ORDER = {"high": 0, "medium": 1, "low": 2}
PARALLEL_STARTS = 8


class CampaignActivities:
    """Plans rounds and starts their inspections; built once per worker."""

    def __init__(self, session_factory: SessionFactory, checklists: Checklists | None = None):
        self._sessions = session_factory
        self._checklists = checklists or default_checklists()

    @activity.defn(name=ACT_PLAN_CAMPAIGN)
    async def plan_campaign(self, where: CampaignFilter) -> CampaignPlan:
        """The enterprises of the round, high risk first, and the inspectors that pace it."""
        statement = select(
            col(Enterprise.id), col(Enterprise.risk_level), col(Enterprise.grid_id)
        ).where(col(Enterprise.active).is_(True))
        if where.grid_ids:
            statement = statement.where(col(Enterprise.grid_id).in_(where.grid_ids))
        if where.risk_levels:
            statement = statement.where(col(Enterprise.risk_level).in_(where.risk_levels))
        if where.industries:
            statement = statement.where(col(Enterprise.industry).in_(where.industries))
        if where.hazardous_chemicals is not None:
            statement = statement.where(
                col(Enterprise.hazardous_chemicals).is_(where.hazardous_chemicals)
            )
        if where.enterprise_ids:
            statement = statement.where(col(Enterprise.id).in_(where.enterprise_ids))
        async with self._sessions() as session:
            rows = (await session.execute(statement)).all()
            qualifications = (
                await session.execute(
                    select(col(Inspector.qualifications)).where(col(Inspector.on_duty).is_(True))
                )
            ).scalars()
            # Pacing counts the inspectors who can take any joint visit (every department).
            every = set(self._checklists.departments)
            inspectors = sum(1 for q in qualifications if every <= set(q))
        ordered = sorted(rows, key=lambda r: (RISK_ORDER.get(r[1], 3), r[2], r[0]))
        return CampaignPlan(
            enterprises=[
                PlannedEnterprise(enterprise_id=e, risk_level=risk, grid_id=grid)
                for e, risk, grid in ordered
            ],
            inspectors=inspectors,
        )

    @activity.defn(name=ACT_START_INSPECTIONS)
    async def start_inspections(self, batch: StartBatch) -> int:
        """Start every inspection of the batch; returns how many were new."""
        client = activity.client()
        gate = asyncio.Semaphore(PARALLEL_STARTS)

        async def one(index: int) -> bool:
            item = batch.items[index]
            async with gate:
                return await start_inspection_workflow(
                    client,
                    item.inspection,
                    batch.task_queue,
                    grid_id=item.grid_id,
                    risk_level=item.risk_level,
                    source="campaign",
                    summary=(
                        f"Joint inspection of {item.inspection.enterprise_id} "
                        f"({item.risk_level} risk), {batch.round_name}"
                    ),
                )

        started = await asyncio.gather(*(one(i) for i in range(len(batch.items))))
        return sum(started)
