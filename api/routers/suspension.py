"""Suspension (缓办): a department asks, the linkage center decides and resumes.

Thin routes over the case workflow's updates (``workflows.cases.suspension``); the rules
are the workflow's validators, so a refused action answers 409 and leaves no trace.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.deps import CaseIdPath, DepartmentPrincipal, IdempotencyHeader, Supervisor, TemporalClient
from api.route_helpers import ACTION_ERRORS, perform
from schemas.cases.suspension import (
    ResumeCase,
    ResumeCaseBody,
    SuspensionDecision,
    SuspensionDecisionBody,
    SuspensionRequest,
    SuspensionRequestBody,
)
from schemas.cases.workflow import ActionOutcome
from schemas.platform.common import Line
from schemas.platform.updates import Update

router = APIRouter(tags=["suspension"])
Code = Annotated[Line, Path(max_length=40)]


@router.post(
    "/departments/{department}/cases/{case_id}/suspension",
    response_model=ActionOutcome,
    responses=ACTION_ERRORS,
)
async def request_suspension(
    department: Code,
    case_id: CaseIdPath,
    body: SuspensionRequestBody,
    client: TemporalClient,
    principal: DepartmentPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Ask the linkage center to suspend the case, with a reason and when it may resume."""
    if principal.id != department:
        raise HTTPException(403, f"you act for {principal.id}, not {department}")
    return await perform(
        client,
        case_id,
        Update.REQUEST_SUSPENSION,
        SuspensionRequest,
        body,
        principal,
        idempotency_key,
    )


@router.post(
    "/supervisors/cases/{case_id}/suspension/decision",
    response_model=ActionOutcome,
    responses=ACTION_ERRORS,
)
async def decide_suspension(
    case_id: CaseIdPath,
    body: SuspensionDecisionBody,
    client: TemporalClient,
    principal: Supervisor,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Approve (the clock stops) or refuse (with a refusal code) a pending request."""
    return await perform(
        client,
        case_id,
        Update.DECIDE_SUSPENSION,
        SuspensionDecision,
        body,
        principal,
        idempotency_key,
    )


@router.post(
    "/supervisors/cases/{case_id}/resume", response_model=ActionOutcome, responses=ACTION_ERRORS
)
async def resume(
    case_id: CaseIdPath,
    body: ResumeCaseBody,
    client: TemporalClient,
    principal: Supervisor,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """End a suspension now; the limit's clock runs again from here."""
    return await perform(
        client, case_id, Update.RESUME_CASE, ResumeCase, body, principal, idempotency_key
    )
