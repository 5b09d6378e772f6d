"""Cases: report one, follow it, list them, read its timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from api.deps import (
    CaseIdPath,
    IdempotencyHeader,
    Scope,
    Session,
    State,
    TemporalClient,
    require,
)
from api.errors import UNAVAILABLE
from api.route_helpers import CREATE_ERRORS, case_links
from constants import case_workflow_id
from schemas.cases.api import CaseDetail, CasePage, CreateCase, CreatedCase, Problem, Timeline
from schemas.cases.workflow import CaseStatus
from schemas.platform.common import Actor, CaseSource, Instant, Line
from services.attachments.citations import check_cited
from services.cases import access as case_access
from services.cases import filing
from services.cases import operations as cases
from services.cases import queries as case_queries
from services.cases.queries import CaseFilter
from services.platform import requests

# who files reports here (devices have their own door, /devices; departments do not report)
Reporter = Annotated[Actor, require("steward", "supervisor", "citizen", "system")]
Regulator = Annotated[Actor, require("supervisor", "department")]
Reader = Annotated[Actor, require("supervisor", "department", "steward", "citizen")]

router = APIRouter(prefix="/cases", tags=["cases"])  # bodies: 413 over 64 KiB (api.body_limit)

ERRORS = {code: answer for code, answer in CREATE_ERRORS.items() if code != 404}


@router.post(
    "", status_code=202, response_model=CreatedCase, responses={**ERRORS, 413: {"model": Problem}}
)
async def create_case(
    body: CreateCase,
    state: State,
    client: TemporalClient,
    principal: Reporter,
    response: Response,
    idempotency_key: IdempotencyHeader = None,
) -> CreatedCase:
    """File a report as a case. The case runs on from here; follow ``links.self``.

    Photos are uploaded first (``POST /attachments``) and cited by id in ``evidence``."""
    case_id = filing.new_case_id(principal, idempotency_key)
    inp = filing.build_case_input(body, principal, case_id, state.catalog, state.grids)
    cited = await check_cited(state.attachments, body, principal, case_id)
    request = requests.request_fingerprint(body) if idempotency_key else None
    created = await cases.start_case(client, inp, state.settings.task_queue, request=request)
    await state.attachments.bind(cited, case_id)
    response.headers["Location"] = f"/cases/{case_id}"
    return CreatedCase(
        case_id=case_id,
        workflow_id=case_workflow_id(case_id),
        status="reported",
        grid_id=inp.grid_id,
        micro_grid_id=inp.micro_grid_id,
        created=created,
        links=case_links(state.settings, case_id),
    )


@router.get("", response_model=CasePage, responses=ERRORS)
async def list_cases(
    session: Session,
    principal: Regulator,
    scope: Scope,
    status: CaseStatus | None = None,
    case_type: Annotated[Line | None, Query(max_length=40)] = None,
    grid_id: Annotated[Line | None, Query(max_length=64)] = None,
    department: Annotated[Line | None, Query(max_length=40)] = None,
    steward_id: Annotated[Line | None, Query(max_length=64)] = None,
    source: CaseSource | None = None,
    overdue: bool | None = None,
    reported_from: Instant | None = None,
    reported_to: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CasePage:
    """Cases from the projection, newest first, with filters and pagination.

    A department sees the cases it holds or has held only, as on ``GET /cases/{id}``; a
    supervisor who oversees some grids, the cases of those grids.
    """
    held_by = None
    if principal.role == "department":
        if department not in (None, principal.id):
            raise HTTPException(403, f"you act for {principal.id}, not {department}")
        held_by = principal.id
    where = CaseFilter(
        held_by=held_by,
        scope=scope,
        status=status,
        case_type=case_type,
        grid_id=grid_id,
        department=department,
        steward_id=steward_id,
        source=source,
        overdue=overdue,
        reported_from=reported_from,
        reported_to=reported_to,
    )
    items, total = await case_queries.list_cases(session, where, limit, offset)
    return CasePage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/{case_id}",
    response_model=CaseDetail,
    responses={**ERRORS, 404: {"model": Problem}, 503: UNAVAILABLE},
)
async def get_case(
    case_id: CaseIdPath,
    state: State,
    client: TemporalClient,
    session: Session,
    principal: Reader,
    scope: Scope,
) -> CaseDetail:
    """Live from the workflow while it runs; from the projection once it has ended, or
    while no worker answers (``live: false``); 503 if it has not been projected yet either.

    The center reads every case, a department the cases it has held, a steward or a
    citizen the cases they took part in (reported, were offered, handled, verified).
    """
    view, live = await cases.case_view(
        client, case_id, lambda: case_queries.projected_case(session, case_id)
    )
    if not case_access.may_read(principal, view, scope):
        raise HTTPException(403, "you took no part in this case")
    return CaseDetail(**view.model_dump(), live=live, links=case_links(state.settings, case_id))


@router.get(
    "/{case_id}/timeline", response_model=Timeline, responses={**ERRORS, 404: {"model": Problem}}
)
async def get_timeline(
    case_id: CaseIdPath, session: Session, principal: Reader, scope: Scope
) -> Timeline:
    """Every recorded transition of the case: what, who, when, with what evidence."""
    view = await case_queries.projected_case(session, case_id)
    if view is None or not view.timeline:
        raise cases.CaseNotFound(case_id)
    if not case_access.may_read(principal, view, scope):
        raise HTTPException(403, "you took no part in this case")
    return Timeline(case_id=case_id, entries=view.timeline)
