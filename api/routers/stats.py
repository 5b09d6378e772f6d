"""Statistics for the linkage center: the evaluation (综合评价) by grid, department, steward
or case type. Supervisors only: per-person numbers are not for the stewards' own eyes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Session, State, Supervisor
from api.evaluation_report import build_report
from schemas.cases.api import Problem
from schemas.platform.common import Instant
from schemas.supervision.evaluation import EvaluationReport, GroupBy

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get(
    "/evaluation",
    response_model=EvaluationReport,
    responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
)
async def evaluation(
    state: State,
    session: Session,
    _: Supervisor,
    group_by: GroupBy = "grid",
    period_from: Annotated[Instant | None, Query(alias="from")] = None,
    period_to: Annotated[Instant | None, Query(alias="to")] = None,
) -> EvaluationReport:
    """Closure, on-time and rework rates and time per stage for cases reported in [from, to).

    See ``definitions`` in the answer for the exact rules behind each number.
    """
    return await build_report(state, session, group_by, period_from, period_to)
