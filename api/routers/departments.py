"""Departments (职能部门): take a case, report the result, return it, ask for time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.deps import CaseIdPath, DepartmentPrincipal, IdempotencyHeader, State, TemporalClient
from api.route_helpers import ACTION_ERRORS, perform
from schemas.cases.workflow import (
    ActionOutcome,
    DepartmentAccept,
    DepartmentAcceptBody,
    DepartmentExtension,
    DepartmentExtensionBody,
    DepartmentReport,
    DepartmentReportBody,
    DepartmentReturn,
    DepartmentReturnBody,
)
from schemas.platform.common import Actor, Line
from schemas.platform.updates import Update

router = APIRouter(
    prefix="/departments/{department}/cases/{case_id}",
    tags=["departments"],
)

Code = Annotated[Line, Path(max_length=40)]


def _same(principal: Actor, department: str) -> Actor:
    if principal.id != department:
        raise HTTPException(403, f"you act for {principal.id}, not {department}")
    return principal


@router.post("/accept", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def accept(
    department: Code,
    case_id: CaseIdPath,
    body: DepartmentAcceptBody,
    client: TemporalClient,
    principal: DepartmentPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Take the case (escalated -> department_handling)."""
    actor = _same(principal, department)
    return await perform(
        client, case_id, Update.DEPARTMENT_ACCEPT, DepartmentAccept, body, actor, idempotency_key
    )


@router.post("/result", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def report_result(
    department: Code,
    case_id: CaseIdPath,
    body: DepartmentReportBody,
    state: State,
    client: TemporalClient,
    principal: DepartmentPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Report the result with evidence (反馈; photos by attachment id); the case waits for
    verification."""
    actor = _same(principal, department)
    return await perform(
        client, case_id, Update.DEPARTMENT_REPORT, DepartmentReport, body, actor,
        idempotency_key, state.attachments,
    )  # fmt: skip


@router.post("/return", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def return_to_center(
    department: Code,
    case_id: CaseIdPath,
    body: DepartmentReturnBody,
    client: TemporalClient,
    principal: DepartmentPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Send the case back to the linkage center with a reason (not ours, wrong place...)."""
    actor = _same(principal, department)
    return await perform(
        client, case_id, Update.DEPARTMENT_RETURN, DepartmentReturn, body, actor, idempotency_key
    )


@router.post("/extension", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def ask_extension(
    department: Code,
    case_id: CaseIdPath,
    body: DepartmentExtensionBody,
    client: TemporalClient,
    principal: DepartmentPrincipal,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Ask for more time; granted at once within the policy, else refused (ask the center)."""
    actor = _same(principal, department)
    return await perform(
        client,
        case_id,
        Update.DEPARTMENT_EXTENSION,
        DepartmentExtension,
        body,
        actor,
        idempotency_key,
    )
