"""The reporter's satisfaction follow-up (回访) on a closed case: thin, rules in
``services.cases.satisfaction``. ``public``: the Open311 citizen's signed rating link
(no bearer token; the token in the path is the permission)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.deps import CaseIdPath, State, TemporalClient, require
from api.route_helpers import ACTION_ERRORS
from schemas.cases.satisfaction import SatisfactionAnswer, SatisfactionBody
from schemas.platform.common import Actor
from services.cases.rating_links import RatingLinkRefused, verify_rating
from services.cases.satisfaction import NotTheReporter, rate_case

Rater = Annotated[Actor, require("citizen", "steward")]

router = APIRouter(prefix="/cases/{case_id}", tags=["cases"])
public = APIRouter(tags=["cases"])
LINK_ERRORS: dict[int | str, dict[str, object]] = {
    **{code: answer for code, answer in ACTION_ERRORS.items() if code != 401},
    403: {"description": "a forged or altered rating link"},
    410: {"description": "the rating link has expired"},
}


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


@public.post("/satisfaction/{token}", response_model=SatisfactionAnswer, responses=LINK_ERRORS)
async def rate_by_link(
    token: Annotated[
        str,
        Path(
            min_length=10,
            max_length=512,
            pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
            description="the token of the citizen_closed notice's rating_url",
        ),
    ],
    body: SatisfactionBody,
    state: State,
    client: TemporalClient,
) -> SatisfactionAnswer:
    """The Open311 citizen rates the closing named by the link of the ``citizen_closed``
    notice, through the reporter's rules (window, once per closing: 409 ``already_rated``;
    a link of an earlier closing: 409 ``link_stale``)."""
    try:
        grant = verify_rating(state.settings.api_token_secret, token, now=time.time())
    except RatingLinkRefused as error:
        raise HTTPException(error.status, error.message) from error
    citizen = Actor(role="citizen", id=f"open311:{grant.case_id}"[:64])
    return await rate_case(
        client,
        state.sessions,
        state.catalog,
        grant.case_id,
        citizen,
        body,
        state.settings.task_queue,
        closing=grant.closing,
    )
