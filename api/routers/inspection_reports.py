"""Reports of joint inspection: per enterprise, department and grid, and per round."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Session, WorkflowKey
from api.inspection_deps import Regulator
from schemas.cases.api import Problem
from schemas.inspections.api import (
    DepartmentInspectionReport,
    EnterpriseReport,
    GridReport,
    RoundReport,
)
from schemas.platform.common import Line
from services.inspections import reports as inspection_reports
from services.inspections.operations import InspectionNotFound

router = APIRouter(prefix="/reports/inspections", tags=["reports"])

ERRORS: dict[int | str, dict[str, object]] = {401: {"model": Problem}, 403: {"model": Problem}}


@router.get("/enterprises", response_model=list[EnterpriseReport], responses=ERRORS)
async def enterprises(
    session: Session,
    _: Regulator,
    grid_id: Annotated[Line | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[EnterpriseReport]:
    """Per enterprise: inspections, last visit, hazards open/closed/escalated/overdue."""
    return await inspection_reports.per_enterprise(session, grid_id, limit, offset)


@router.get("/departments", response_model=list[DepartmentInspectionReport], responses=ERRORS)
async def departments(session: Session, _: Regulator) -> list[DepartmentInspectionReport]:
    """Per department: inspections covering it, items, hazards by severity, time to close."""
    return await inspection_reports.per_department(session)


@router.get("/grids", response_model=list[GridReport], responses=ERRORS)
async def grids(session: Session, _: Regulator) -> list[GridReport]:
    """Per grid: enterprises, inspected, hazards open/closed/overdue."""
    return await inspection_reports.per_grid(session)


@router.get("/rounds/{campaign_id}", response_model=RoundReport,
            responses={**ERRORS, 404: {"model": Problem}})  # fmt: skip
async def round_report(campaign_id: WorkflowKey, session: Session, _: Regulator) -> RoundReport:
    """A round: its time, joint visits against five separate rounds, visits saved."""
    report = await inspection_reports.round_report(session, campaign_id)
    if report is None:
        raise InspectionNotFound(campaign_id)
    return report
