"""The reporter's satisfaction follow-up (回访) on a closed case: thin, rules in
``services.cases.satisfaction``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException

from api.deps import CaseIdPath, State, TemporalClient, require
from api.route_helpers import ACTION_ERRORS
from schemas.cases.satisfaction import SatisfactionAnswer, SatisfactionBody
from schemas.platform.common import Actor
from services.cases.satisfaction import NotTheReporter, rate_case

Rater = Annotated[Actor, require("citizen", "steward")]

router = APIRouter(prefix="/cases/{case_id}", tags=["cases"])


@router.post("/satisfaction", response_model=SatisfactionAnswer, responses=ACTION_ERRORS)
async def rate(
    case_id: CaseIdPath,
    body: SatisfactionBody,
    state: State,
    client: TemporalClient,
    principal: Rater,
) -> SatisfactionAnswer:
    """The reporter rates the closed case (1-5, a comment) within the catalog's window
    (``followup.window``); "not satisfied" reopens it as rework where the policy says
    (``reopened: true``). 409 ``not_closed``, ``window_closed``, ``already_rated``."""
    try:
        return await rate_case(
            client,
            state.sessions,
            state.catalog,
            case_id,
            principal,
            body,
            state.settings.task_queue,
        )
    except NotTheReporter as error:
        raise HTTPException(403, str(error)) from error
