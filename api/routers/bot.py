"""The chat-bot gateway's callback: a steward pressed a button in a message we sent.

Thin on purpose: the route reads the raw body (the signature covers it byte for byte, so
it is not parsed by FastAPI first; ``api.body_limit`` caps it at 64 KiB with 413) and
hands it to ``services.stewards.bot.process``, which holds every rule. The gateway authenticates
with its signature, not with a bearer token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from api.deps import State
from api.errors import RETRY_AFTER_SECONDS, problem
from api.routers.attachments import UPLOAD_ERRORS, store_upload
from schemas.attachments.api import UploadAnswer
from schemas.cases.api import Problem
from schemas.platform.common import Actor
from schemas.stewards.bot import (
    BotAnswer,
    BotReport,
    BotReportAnswer,
    PresenceAnswer,
    PresenceEvent,
)
from schemas.stewards.tables import Steward
from services.stewards import bot
from services.stewards.bot_report import ReportDesk
from services.stewards.presence import apply_presence

router = APIRouter(prefix="/bot", tags=["bot"])

CALLBACK_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "missing or bad signature, or a stale timestamp"},
    403: {"model": Problem, "description": "the token is not this steward's for this task"},
    409: {"model": Problem, "description": "request_id reused for a different action"},
    413: {"model": Problem, "description": "body over 64 KiB"},
    422: {"model": Problem, "description": "malformed body; names the fields at fault"},
    503: {
        "model": Problem,
        "description": "Temporal or its workers unavailable; retry with the same request_id",
        "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}},
    },
}


def rejected_answer(rejected: bot.CallbackRejected) -> JSONResponse:
    """The problem answer of a refused callback; a 503 says when to come back."""
    response = problem(rejected.status, rejected.error, rejected.message, rejected.fields)
    if rejected.status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@router.post("/callback", response_model=BotAnswer, responses=CALLBACK_ERRORS)
async def callback(
    request: Request,
    state: State,
    timestamp: Annotated[str | None, Header(alias="X-Gridplus-Timestamp")] = None,
    signature: Annotated[str | None, Header(alias="X-Gridplus-Signature")] = None,
) -> JSONResponse:
    """Turn a signed ``BotCallback`` body into a workflow update and say what to show.

    A refused action (too late, already done, not yours, case closed) is still 200 with a
    polite ``result``; a repeated ``request_id`` gets its stored answer and acts no more
    (header ``X-Gridplus-Replayed: true``).
    """
    try:
        handled = await bot.process(
            state.temporal,
            state.sessions,
            state.settings.bot_secret.get_secret_value(),
            await request.body(),
            timestamp,
            signature,
            attachments=state.attachments,
        )
    except bot.CallbackRejected as rejected:
        return rejected_answer(rejected)
    return JSONResponse(
        handled.answer.model_dump(mode="json"),
        headers={"X-Gridplus-Replayed": "true" if handled.replayed else "false"},
    )


@router.post("/report", response_model=BotReportAnswer, responses=CALLBACK_ERRORS)
async def report(
    request: Request,
    state: State,
    timestamp: Annotated[str | None, Header(alias="X-Gridplus-Timestamp")] = None,
    signature: Annotated[str | None, Header(alias="X-Gridplus-Signature")] = None,
) -> JSONResponse:
    """A steward reports from the chat (``BotReport``), signed like a callback: filed as
    that steward, answered with the case id (``filed``) or the types to choose from
    (``confirm_type``). A repeated ``request_id`` gets the stored answer
    (``X-Gridplus-Replayed: true``) and files nothing."""
    body = await request.body()
    desk = ReportDesk(
        state.temporal,
        state.sessions,
        state.catalog,
        state.grids,
        state.attachments,
        state.settings.task_queue,
    )
    try:
        bot.verify_signature(
            state.settings.bot_secret.get_secret_value(), timestamp, signature, body
        )
        handled = await desk.handle(bot.parse_body(BotReport, body))
    except bot.CallbackRejected as rejected:
        return rejected_answer(rejected)
    return JSONResponse(
        handled.answer.model_dump(mode="json"),
        headers={"X-Gridplus-Replayed": "true" if handled.replayed else "false"},
    )


def upload_signing_text(steward_id: str) -> bytes:
    """What the gateway signs for an upload on a steward's behalf (the streamed body is
    not signed: it is checked by content and limits, and binds to nothing until a signed
    report cites it)."""
    return f"attachments:{steward_id}".encode()


@router.post(
    "/attachments",
    status_code=201,
    response_model=UploadAnswer,
    responses={**CALLBACK_ERRORS, **UPLOAD_ERRORS},
)
async def upload_for_steward(
    request: Request,
    state: State,
    steward_id: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")],
    timestamp: Annotated[str | None, Header(alias="X-Gridplus-Timestamp")] = None,
    signature: Annotated[str | None, Header(alias="X-Gridplus-Signature")] = None,
) -> JSONResponse:
    """Photos a steward sent the chat, uploaded by the gateway on the steward's behalf
    (multipart, field ``files``): signed over ``attachments:{steward_id}``, not the body;
    the ids go into a ``/bot/report``'s ``attachment_ids``."""
    try:
        bot.verify_signature(
            state.settings.bot_secret.get_secret_value(),
            timestamp,
            signature,
            upload_signing_text(steward_id),
        )
        async with state.sessions() as session:
            if await session.get(Steward, steward_id) is None:
                raise bot.CallbackRejected(403, "forbidden", "no such steward in the registry")
    except bot.CallbackRejected as rejected:
        return rejected_answer(rejected)
    return await store_upload(request, state, Actor(role="steward", id=steward_id), "report")


@router.post("/presence", response_model=PresenceAnswer, responses=CALLBACK_ERRORS)
async def presence(
    request: Request,
    state: State,
    timestamp: Annotated[str | None, Header(alias="X-Gridplus-Timestamp")] = None,
    signature: Annotated[str | None, Header(alias="X-Gridplus-Signature")] = None,
) -> JSONResponse:
    """A steward checked in or out, is busy, or their phone reported where they are.

    Each ``request_id`` acts once (a repeat gets the stored answer, header
    ``X-Gridplus-Replayed: true``), and a duty change older than the steward's last one
    is ignored (``duty_applied: false``): a captured check-in cannot be replayed later.
    """
    body = await request.body()
    try:
        bot.verify_signature(
            state.settings.bot_secret.get_secret_value(), timestamp, signature, body
        )
        handled = await apply_presence(state.sessions, bot.parse_body(PresenceEvent, body))
    except bot.CallbackRejected as rejected:
        return rejected_answer(rejected)
    return JSONResponse(
        handled.answer.model_dump(mode="json"),
        headers={"X-Gridplus-Replayed": "true" if handled.replayed else "false"},
    )
