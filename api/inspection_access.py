"""Who reads one inspection or one hazard in full, and from which grid an inspector works.

Lists were filtered by caller, detail reads were not: any steward token read every
inspection and rectification. Now a detail is for the center, the
enterprise itself, the departments it concerns, the inspector booked for the visit and the
inspectors of the enterprise's grid (who may take over a re-inspection). An enterprise
asking for another's gets 404 (it learns nothing); staff get 403 saying who may read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from fastapi import HTTPException

from schemas.inspections.tables import InspectionRecord, Inspector
from schemas.inspections.workflow import INSPECTOR_ROLE
from schemas.platform.common import Actor
from services.inspections.operations import InspectionNotFound
from services.platform.db import SessionFactory


@dataclass(frozen=True)
class Visit:
    """What decides who reads an inspection or one of its hazards."""

    subject: str
    enterprise_id: str
    grid_id: str
    departments: Collection[str]
    inspector_id: str | None


async def inspector_grid(sessions: SessionFactory, inspector_id: str) -> str | None:
    """The registry's grid of an inspector (None: not a registered inspector)."""
    async with sessions() as session:
        row = await session.get(Inspector, inspector_id)
    return row.grid_id if row is not None else None


async def booked_inspector(sessions: SessionFactory, inspection_id: str) -> str | None:
    """The inspector an inspection was booked with, from its projection."""
    async with sessions() as session:
        row = await session.get(InspectionRecord, inspection_id)
    return row.inspector_id if row is not None else None


async def check_reader(sessions: SessionFactory, principal: Actor, visit: Visit) -> None:
    """Pass, or raise 404 (another enterprise) or 403 (staff with no part in it)."""
    role, who = principal.role, principal.id
    if role == "supervisor":
        return
    if role == "enterprise":
        if who != visit.enterprise_id:
            raise InspectionNotFound(visit.subject)
        return
    if role == "department" and who in visit.departments:
        return
    if role == INSPECTOR_ROLE and (
        who == visit.inspector_id or await inspector_grid(sessions, who) == visit.grid_id
    ):
        return
    raise HTTPException(
        403,
        f"{visit.subject} is read by its booked inspector, the inspectors of grid "
        f"{visit.grid_id} and departments {', '.join(sorted(visit.departments))}",
    )
