"""Joint safety inspections and rounds: start, follow, and the inspector's actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import IdempotencyHeader, Session, State, Supervisor, TemporalClient, WorkflowKey
from api.errors import UNAVAILABLE
from api.inspection_access import Visit, check_reader
from api.inspection_deps import InspectionReader, InspectorPrincipal, Regulator
from api.route_helpers import ACTION_ERRORS, CREATE_ERRORS, perform_on, temporal_ui
from constants import inspection_workflow_id
from schemas.inspections.api import (
    InspectionDetail,
    InspectionLinks,
    InspectionPage,
    StartCampaignBody,
    StartedCampaign,
    StartedInspection,
    StartInspectionBody,
)
from schemas.inspections.campaign import CampaignInput, CampaignProgress
from schemas.inspections.workflow import (
    INSPECTOR_ROLE,
    CancelInspection,
    CancelInspectionBody,
    FinishVisit,
    FinishVisitBody,
    InspectionOutcome,
    InspectionStatus,
    RecordResults,
    RecordResultsBody,
    StartVisit,
    StartVisitBody,
)
from schemas.platform.common import Line
from schemas.platform.updates import Update
from services.inspections import operations as inspections
from services.inspections import queries as inspection_queries
from services.inspections.queries import InspectionFilter
from services.platform import requests

router = APIRouter(tags=["inspections"])

ERRORS = CREATE_ERRORS


def _links(state: State, inspection_id: str) -> InspectionLinks:
    settings = state.settings
    return InspectionLinks(
        self=f"/inspections/{inspection_id}",
        temporal_ui=temporal_ui(settings, inspection_workflow_id(inspection_id)),
    )


@router.post("/inspections", status_code=202, response_model=StartedInspection, responses=ERRORS)
async def start_inspection(
    body: StartInspectionBody,
    state: State,
    client: TemporalClient,
    principal: Regulator,
    response: Response,
    idempotency_key: IdempotencyHeader = None,
) -> StartedInspection:
    """Inspect one enterprise now: one visit covers every department's checklist."""
    inspection_id, created = await inspections.start_inspection(
        client,
        state.sessions,
        body.enterprise_id,
        principal,
        idempotency_key,
        body.reason,
        state.settings.task_queue,
    )
    response.headers["Location"] = f"/inspections/{inspection_id}"
    return StartedInspection(
        inspection_id=inspection_id,
        workflow_id=inspection_workflow_id(inspection_id),
        created=created,
        links=_links(state, inspection_id),
    )


@router.get("/inspections", response_model=InspectionPage, responses=ERRORS)
async def list_inspections(
    session: Session,
    principal: InspectionReader,
    enterprise_id: Annotated[Line | None, Query(max_length=24)] = None,
    grid_id: Annotated[Line | None, Query(max_length=64)] = None,
    campaign_id: Annotated[Line | None, Query(max_length=64)] = None,
    status: InspectionStatus | None = None,
    inspector_id: Annotated[Line | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> InspectionPage:
    """From the projection; an enterprise sees its own, an inspector the ones booked to them."""
    if principal.role == "enterprise":
        enterprise_id = principal.id
    elif principal.role == INSPECTOR_ROLE:
        inspector_id = principal.id
    where = InspectionFilter(enterprise_id, grid_id, campaign_id, status, inspector_id)
    items, total = await inspection_queries.list_inspections(session, where, limit, offset)
    return InspectionPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/inspections/{inspection_id}", response_model=InspectionDetail,
            responses={**ERRORS, 503: UNAVAILABLE})  # fmt: skip
async def get_inspection(
    inspection_id: WorkflowKey,
    client: TemporalClient,
    session: Session,
    state: State,
    principal: InspectionReader,
) -> InspectionDetail:
    """Live from the workflow while it runs (form, timeline); from the projection after,
    or while no worker answers (``live: false``). Read by the center, the enterprise, the
    departments of its checklists, the booked inspector and the grid's inspectors."""
    view, live = await inspections.inspection_view(
        client,
        inspection_id,
        lambda: inspection_queries.projected_inspection(session, inspection_id),
    )
    visit = Visit(
        inspection_id, view.enterprise_id, view.grid_id, view.departments, view.inspector_id
    )
    await check_reader(state.sessions, principal, visit)
    return InspectionDetail(**view.model_dump(), live=live)


@router.post("/inspections/{inspection_id}/visit", response_model=InspectionOutcome,
             responses=ACTION_ERRORS)  # fmt: skip
async def start_visit(
    inspection_id: WorkflowKey,
    body: StartVisitBody,
    client: TemporalClient,
    principal: InspectorPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> InspectionOutcome:
    """The booked inspector checks in on site."""
    return await perform_on(
        client,
        inspection_workflow_id(inspection_id),
        Update.START_VISIT,
        StartVisit,
        body,
        principal,
        idempotency_key,
        InspectionOutcome,
    )


@router.post("/inspections/{inspection_id}/results", response_model=InspectionOutcome,
             responses=ACTION_ERRORS)  # fmt: skip
async def record_results(
    inspection_id: WorkflowKey,
    body: RecordResultsBody,
    client: TemporalClient,
    principal: InspectorPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> InspectionOutcome:
    """Results of one item or several (pass, or hazard with answer, photo, note)."""
    return await perform_on(
        client,
        inspection_workflow_id(inspection_id),
        Update.RECORD_RESULTS,
        RecordResults,
        body,
        principal,
        idempotency_key,
        InspectionOutcome,
    )


@router.post("/inspections/{inspection_id}/finish", response_model=InspectionOutcome,
             responses=ACTION_ERRORS)  # fmt: skip
async def finish_visit(
    inspection_id: WorkflowKey,
    body: FinishVisitBody,
    client: TemporalClient,
    principal: InspectorPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> InspectionOutcome:
    """Every item answered: sections go to the departments, hazards to rectification."""
    return await perform_on(
        client,
        inspection_workflow_id(inspection_id),
        Update.FINISH_VISIT,
        FinishVisit,
        body,
        principal,
        idempotency_key,
        InspectionOutcome,
    )


@router.post("/inspections/{inspection_id}/cancel", response_model=InspectionOutcome,
             responses=ACTION_ERRORS)  # fmt: skip
async def cancel_inspection(
    inspection_id: WorkflowKey,
    body: CancelInspectionBody,
    client: TemporalClient,
    principal: Supervisor,
    idempotency_key: IdempotencyHeader = None,
) -> InspectionOutcome:
    """Cancel an inspection not yet visited (the business closed, a duplicate...)."""
    return await perform_on(
        client,
        inspection_workflow_id(inspection_id),
        Update.CANCEL,
        CancelInspection,
        body,
        principal,
        idempotency_key,
        InspectionOutcome,
    )


# ---- rounds ------------------------------------------------------------------------------
@router.post("/campaigns", status_code=202, response_model=StartedCampaign, responses=ERRORS)
async def start_campaign(
    body: StartCampaignBody, state: State, client: TemporalClient, principal: Supervisor
) -> StartedCampaign:
    """Start a round over every enterprise (or a filter); high risk first."""
    inp = CampaignInput(**body.model_dump(), requested_by=principal)
    request = requests.request_fingerprint(body, principal)
    workflow_id, created = await inspections.start_campaign(
        client, inp, state.settings.task_queue, request
    )
    return StartedCampaign(campaign_id=body.campaign_id, workflow_id=workflow_id, created=created)


@router.get("/campaigns/{campaign_id}", response_model=CampaignProgress,
            responses={**ERRORS, 503: UNAVAILABLE})  # fmt: skip
async def campaign_progress(
    campaign_id: WorkflowKey, client: TemporalClient, session: Session, _: Regulator
) -> CampaignProgress:
    """Planned, visited, hazards open and closed, round time so far (a workflow query).

    ``status`` is ``running`` while visits remain, ``rectifying`` once every visit is made
    and hazards are still open, ``completed`` when they are all closed (patch
    ``campaign-v2``; a round completed before it takes its closed hazards from the
    projection).

    503 with ``Retry-After`` while no worker answers (``/reports/inspections/rounds/{id}``
    reads the round from the database meanwhile)."""
    return await inspections.campaign_progress(client, session, campaign_id)
