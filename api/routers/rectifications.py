"""Rectifications: follow a hazard, re-inspect it, record enforcement, cancel it."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import (
    DepartmentPrincipal,
    IdempotencyHeader,
    Session,
    State,
    Supervisor,
    TemporalClient,
    WorkflowKey,
)
from api.inspection_access import Visit, booked_inspector, check_reader
from api.inspection_deps import InspectionReader, ReinspectorPrincipal
from api.route_helpers import ACTION_ERRORS, build_action, perform_on
from constants import rectification_workflow_id
from schemas.inspections.api import RectificationDetail
from schemas.inspections.rectification import (
    CancelRectification,
    CancelRectificationBody,
    EnforcementBody,
    RecordEnforcement,
    RectificationOutcome,
    RectificationView,
    Reinspect,
    ReinspectBody,
)
from schemas.platform.updates import Update
from services.inspections import operations as inspections
from services.inspections import queries as inspection_queries

router = APIRouter(prefix="/rectifications/{rectification_id}", tags=["rectifications"])


@router.get("", response_model=RectificationDetail, responses=ACTION_ERRORS)
async def get_rectification(
    rectification_id: WorkflowKey,
    client: TemporalClient,
    session: Session,
    state: State,
    principal: InspectionReader,
) -> RectificationDetail:
    """Live from the workflow while open (with its timeline); from the projection after.
    Read by the center, the enterprise, the responsible department, the inspector booked
    for the visit that found it and the grid's inspectors."""

    async def projected() -> RectificationView | None:
        summary = await inspection_queries.projected_hazard(session, rectification_id)
        return RectificationView(**summary.model_dump(), timeline=[]) if summary else None

    view, live = await inspections.rectification_view(client, rectification_id, projected)
    booked = await booked_inspector(state.sessions, view.inspection_id)
    visit = Visit(rectification_id, view.enterprise_id, view.grid_id, [view.department], booked)
    await check_reader(state.sessions, principal, visit)
    return RectificationDetail(**view.model_dump(), live=live)


@router.post("/reinspection", response_model=RectificationOutcome, responses=ACTION_ERRORS)
async def reinspect(
    rectification_id: WorkflowKey,
    body: ReinspectBody,
    client: TemporalClient,
    principal: ReinspectorPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> RectificationOutcome:
    """Re-inspection (复查): pass closes, fail is rework. By the inspector booked for the
    visit, an inspector of the enterprise's grid, or the responsible department (the
    workflow's validator decides, from the registry's grid the API adds)."""
    action = build_action(
        Reinspect, body, principal.actor, idempotency_key, inspector_grid=principal.grid_id
    )
    return await inspections.act(
        client, rectification_workflow_id(rectification_id), Update.REINSPECT, action,
        RectificationOutcome,
    )  # fmt: skip


@router.post("/enforcement", response_model=RectificationOutcome, responses=ACTION_ERRORS)
async def record_enforcement(
    rectification_id: WorkflowKey,
    body: EnforcementBody,
    client: TemporalClient,
    principal: DepartmentPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> RectificationOutcome:
    """The department's measure on an overdue hazard, maybe with a new term."""
    return await perform_on(
        client,
        rectification_workflow_id(rectification_id),
        Update.RECORD_ENFORCEMENT,
        RecordEnforcement,
        body,
        principal,
        idempotency_key,
        RectificationOutcome,
    )


@router.post("/cancel", response_model=RectificationOutcome, responses=ACTION_ERRORS)
async def cancel(
    rectification_id: WorkflowKey,
    body: CancelRectificationBody,
    client: TemporalClient,
    principal: Supervisor,
    idempotency_key: IdempotencyHeader = None,
) -> RectificationOutcome:
    """Cancel a hazard recorded in error, with a reason."""
    return await perform_on(
        client,
        rectification_workflow_id(rectification_id),
        Update.CANCEL,
        CancelRectification,
        body,
        principal,
        idempotency_key,
        RectificationOutcome,
    )
