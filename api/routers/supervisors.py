"""The linkage center's supervisors: verify, cancel, reassign, escalate, urge, extend."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import (
    CaseIdPath,
    IdempotencyHeader,
    Scope,
    State,
    Supervisor,
    TemporalClient,
    case_in_scope,
)
from api.route_helpers import ACTION_ERRORS, key_or_new, perform
from schemas.cases.workflow import (
    ActionOutcome,
    CancelCase,
    CancelCaseBody,
    EscalateCase,
    EscalateCaseBody,
    ExtendDeadline,
    ExtendDeadlineBody,
    MergeCase,
    MergeCaseBody,
    ReassignCase,
    ReassignCaseBody,
    ReopenCaseBody,
    UrgeCase,
    UrgeCaseBody,
    VerifyResult,
    VerifyResultBody,
)
from schemas.platform.updates import Update
from services.cases import operations as cases
from services.cases import reassign as reassign_service

# grid scope (a supervisor who oversees some grids acts on their cases only): checked once
# for every route here, before the route's own role check and body
router = APIRouter(
    prefix="/supervisors/cases/{case_id}",
    tags=["supervisors"],
    dependencies=[Depends(case_in_scope)],
)


@router.post("/verify", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def verify(
    case_id: CaseIdPath,
    body: VerifyResultBody,
    state: State,
    client: TemporalClient,
    principal: Supervisor,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Verify the reported result (核查): pass closes the case, fail reopens it as rework."""
    return await perform(
        client, case_id, Update.VERIFY, VerifyResult, body, principal, idempotency_key,
        state.attachments,
    )  # fmt: skip


@router.post("/cancel", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def cancel(
    case_id: CaseIdPath,
    body: CancelCaseBody,
    client: TemporalClient,
    principal: Supervisor,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Cancel a duplicate or invalid case, with a reason."""
    return await perform(
        client, case_id, Update.CANCEL, CancelCase, body, principal, idempotency_key
    )


@router.post("/reassign", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def reassign(
    case_id: CaseIdPath,
    body: ReassignCaseBody,
    state: State,
    client: TemporalClient,
    principal: Supervisor,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Send the case to a steward again: a named one, or the nearest free one.

    Never back to the steward who holds or was last offered it, unless named. A named
    steward who cannot take it now (unknown, off duty, full, lacking the skill) is a 409
    ``steward_unavailable`` with the reason, and nothing changes."""
    action = ReassignCase(
        **body.model_dump(), actor=principal, idempotency_key=key_or_new(idempotency_key)
    )
    return await reassign_service.reassign(client, state.sessions, case_id, action)


@router.post("/escalate", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def escalate(
    case_id: CaseIdPath,
    body: EscalateCaseBody,
    client: TemporalClient,
    principal: Supervisor,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Send the case to a department now (its own by the catalog, or the one named)."""
    return await perform(
        client, case_id, Update.ESCALATE, EscalateCase, body, principal, idempotency_key
    )


@router.post("/urge", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def urge(
    case_id: CaseIdPath,
    body: UrgeCaseBody,
    client: TemporalClient,
    principal: Supervisor,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Push whoever holds the case (督办); recorded in the timeline."""
    return await perform(client, case_id, Update.URGE, UrgeCase, body, principal, idempotency_key)


@router.post("/extend", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def extend(
    case_id: CaseIdPath,
    body: ExtendDeadlineBody,
    client: TemporalClient,
    principal: Supervisor,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Move the current stage's deadline, with a reason."""
    return await perform(
        client, case_id, Update.EXTEND_DEADLINE, ExtendDeadline, body, principal, idempotency_key
    )


@router.post("/merge", response_model=ActionOutcome, responses=ACTION_ERRORS)
async def merge(
    case_id: CaseIdPath,
    body: MergeCaseBody,
    state: State,
    client: TemporalClient,
    principal: Supervisor,
    scope: Scope,
    idempotency_key: IdempotencyHeader = None,
) -> ActionOutcome:
    """Merge this duplicate into another open case: evidence moves over, this one ends.

    Both cases must lie in the supervisor's grids (the router checks this one)."""
    await case_in_scope(body.target_case_id, state, scope)
    action = MergeCase(
        **body.model_dump(), actor=principal, idempotency_key=key_or_new(idempotency_key)
    )
    return await cases.merge_cases(client, case_id, action)


@router.post("/reopen", status_code=202, responses=ACTION_ERRORS)
async def reopen(
    case_id: CaseIdPath,
    body: ReopenCaseBody,
    state: State,
    client: TemporalClient,
    principal: Supervisor,
) -> dict[str, str]:
    """Reopen a closed case: a new run continues its timeline and counts as rework."""
    await cases.reopen_case(
        client, state.sessions, case_id, principal, body.reason, state.settings.task_queue
    )
    return {"case_id": case_id, "status": "reopened"}
