"""The enterprise side: its safety records, its hazards, proof of rectification.

Every route here is for one enterprise: writes only by that enterprise's own token
(``Actor(role="enterprise", id=<enterprise id>)``), reads also by regulators. Any other
enterprise gets 403, whatever the id in the body or the hazard.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from api.deps import (
    CurrentPrincipal,
    EnterpriseId,
    IdempotencyHeader,
    Session,
    State,
    TemporalClient,
    WorkflowKey,
)
from api.inspection_deps import BoundDevice, enterprise_itself, may_read_enterprise
from api.route_helpers import ACTION_ERRORS, CREATE_ERRORS, perform_on
from constants import rectification_workflow_id
from schemas.inspections.api import HazardPage
from schemas.inspections.rectification import RectificationOutcome, SubmitProof, SubmitProofBody
from schemas.platform.common import Actor
from schemas.platform.updates import Update
from services.inspections import enterprise_records
from services.inspections import queries as inspection_queries
from services.inspections.enterprise_records import (
    RecordIn,
    RecordOut,
    RecordPage,
    UnknownEnterprise,
)

router = APIRouter(prefix="/enterprises/{enterprise_id}", tags=["enterprises"])

ERRORS = CREATE_ERRORS


async def _store(
    session: Session,
    enterprise_id: str,
    body: RecordIn,
    actor: Actor,
    key: str | None,
    response: Response,
) -> RecordOut:
    try:
        record, created = await enterprise_records.add_record(
            session,
            enterprise_id,
            body,
            source="device" if actor.role == "device" else "enterprise",
            reported_by=actor.id,
            client_key=key or f"auto-{uuid.uuid4().hex}",
        )
    except UnknownEnterprise as error:
        raise HTTPException(404, f"no enterprise {error}") from error
    response.status_code = 201 if created else 200
    return record


@router.post("/records", status_code=201, response_model=RecordOut, responses=ERRORS)
async def add_record(
    enterprise_id: EnterpriseId,
    body: RecordIn,
    session: Session,
    principal: CurrentPrincipal,
    response: Response,
    idempotency_key: IdempotencyHeader = None,
) -> RecordOut:
    """Log a safety operation (hot work, confined space, hazardous chemicals in/out).

    Log it before it starts: a late record, or one a camera saw with no record, becomes a
    finding at the next inspection. Repeat the Idempotency-Key to make a retry land once.
    """
    actor = enterprise_itself(principal, enterprise_id)
    return await _store(session, enterprise_id, body, actor, idempotency_key, response)


@router.get("/records", response_model=RecordPage, responses=ERRORS)
async def list_records(
    enterprise_id: EnterpriseId,
    session: Session,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RecordPage:
    """The enterprise's records, newest first (itself, or a regulator)."""
    may_read_enterprise(principal, enterprise_id)
    return await enterprise_records.list_records(session, enterprise_id, limit, offset)


@router.post("/observations", status_code=201, response_model=RecordOut, responses=ERRORS)
async def add_observation(
    enterprise_id: EnterpriseId,
    body: RecordIn,
    session: Session,
    principal: BoundDevice,
    response: Response,
    idempotency_key: IdempotencyHeader = None,
) -> RecordOut:
    """A warehouse camera or smoke sensor saw an operation (matched against the records).

    Only a device bound to this enterprise (``python -m services.intake.devices register ...
    --enterprise``); any other device gets 403 naming what it is bound to."""
    return await _store(session, enterprise_id, body, principal, idempotency_key, response)


@router.get("/rectifications", response_model=HazardPage, responses=ERRORS)
async def list_hazards(
    enterprise_id: EnterpriseId,
    session: Session,
    principal: CurrentPrincipal,
    open_only: bool = False,
) -> HazardPage:
    """The enterprise's hazards and where each rectification stands."""
    may_read_enterprise(principal, enterprise_id)
    items = await inspection_queries.list_hazards(session, enterprise_id, open_only)
    return HazardPage(items=items, total=len(items))


@router.post("/rectifications/{rectification_id}/proof", response_model=RectificationOutcome,
             responses=ACTION_ERRORS)  # fmt: skip
async def submit_proof(
    enterprise_id: EnterpriseId,
    rectification_id: WorkflowKey,
    body: SubmitProofBody,
    state: State,
    client: TemporalClient,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> RectificationOutcome:
    """The enterprise shows the hazard is fixed (note, photos); a re-inspection follows."""
    actor = enterprise_itself(principal, enterprise_id)
    return await perform_on(
        client,
        rectification_workflow_id(rectification_id),
        Update.SUBMIT_PROOF,
        SubmitProof,
        body,
        actor,
        idempotency_key,
        RectificationOutcome,
        state.attachments,
    )
