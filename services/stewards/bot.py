"""Chat-bot callbacks: from a signed button press to a workflow update and a polite answer.

The route ``POST /bot/callback`` only reads the body (capped at 64 KiB by ``api.body_limit``)
and calls ``process``. The rules live here, in the order a request meets them:

1. the signature over timestamp and raw body (``services.platform.tokens``), the timestamp
   within ``MAX_SKEW`` of our clock: a captured request cannot be replayed later (401);
2. the body as a ``BotCallback`` (422 naming the field);
3. the action token, bound to (case, steward, attempt, action): a steward can never act on
   someone else's task, even through a gateway bug (403);
4. ``request_id`` already answered: the stored answer, without touching the workflow;
5. else the update (``services.cases.operations.act``) keyed by the request id, its answer
   stored in ``bot_request`` before it is returned.

``bot_request`` is pruned as it goes (``services.stewards.bot_requests``): a row matters
only while its request can pass step 1 (``2 * MAX_SKEW``); rows are kept a day, then deleted
at most once every ten minutes per process, by the callback due to prune.

A refused update (the task went to someone else, the case ended...) is a valid callback:
the answer says so politely in the steward's language, with HTTP 200.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from schemas.cases.suspension import SuspensionRequest
from schemas.cases.workflow import (
    AcceptTask,
    DeclineTask,
    ReportArrived,
    ReportResolved,
    RequestEscalation,
    VerifyResult,
)
from schemas.platform.common import Actor, Evidence, HumanAction
from schemas.platform.updates import Update
from schemas.stewards.bot import BotAction, BotAnswer, BotCallback, BotResult
from schemas.stewards.tables import BotRequest, Steward
from services.attachments.library import AttachmentRejected, Library
from services.cases import operations as cases
from services.platform.db import SessionFactory, upsert_insert
from services.platform.messages import render_steward
from services.platform.tokens import check_action_token, check_body
from services.stewards.bot_requests import MAX_SKEW, PRUNER, BotRequestPruner
from services.temporal_gateway import ActionRefused, WorkflowUnavailable

log = logging.getLogger(__name__)

# The workflow's refusal codes (``workflows.cases.state``) as the gateway should show them.
RESULT_BY_CODE: dict[str, BotResult] = {
    "too_late": "too_late",
    "already_done": "already_done",
    "not_assigned": "not_yours",
    "forbidden_role": "not_yours",
    "case_ended": "case_closed",
    "self_verification": "not_yours",
    "not_found": "case_closed",
}

UPDATE_BY_ACTION: dict[BotAction, Update] = {
    "accept": Update.ACCEPT_TASK,
    "decline": Update.DECLINE_TASK,
    "arrived": Update.REPORT_ARRIVED,
    "resolved": Update.REPORT_RESOLVED,
    "escalate": Update.REQUEST_ESCALATION,
    "verify_pass": Update.VERIFY,
    "verify_fail": Update.VERIFY,
    "suspend": Update.REQUEST_SUSPENSION,
}

M = TypeVar("M", bound=BaseModel)

_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]+$")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


class CallbackRejected(Exception):
    """The callback itself is invalid: the route answers with ``status`` and nothing acts."""

    def __init__(
        self, status: int, error: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.fields = fields or []


@dataclass(frozen=True)
class Handled:
    """The answer to a callback and whether it was replayed from ``bot_request``."""

    answer: BotAnswer
    replayed: bool


def verify_signature(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
) -> None:
    """401 unless the body is signed with ``secret`` at a time within ``MAX_SKEW``.

    The signature is checked first: someone without the secret learns nothing about our
    clock. Used by the API and by the fake gateway (``tools.fake_gateway``) alike.
    """
    if not timestamp:
        raise CallbackRejected(401, "unauthorized", "missing X-Gridplus-Timestamp header")
    if not signature:
        raise CallbackRejected(401, "unauthorized", "missing X-Gridplus-Signature header")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise CallbackRejected(401, "unauthorized", "X-Gridplus-Timestamp must be unix seconds")
    if not signature.isascii() or not check_body(secret, timestamp, body, signature):
        raise CallbackRejected(401, "unauthorized", "bad signature (X-Gridplus-Signature)")
    skew = (time.time() if now is None else now) - int(timestamp)
    if skew > MAX_SKEW:
        raise CallbackRejected(
            401, "unauthorized", f"stale timestamp: signed {int(skew)} s ago (max {MAX_SKEW} s)"
        )
    if skew < -MAX_SKEW:
        raise CallbackRejected(
            401,
            "unauthorized",
            f"timestamp in the future: {int(-skew)} s ahead (max {MAX_SKEW} s)",
        )


def parse_callback(body: bytes) -> BotCallback:
    """The body as a ``BotCallback``, or 422 naming every field at fault (``body.note``)."""
    return parse_body(BotCallback, body)


def parse_body(model: type[M], body: bytes) -> M:
    """A signed JSON body as ``model``, or 422 naming every field at fault."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        fields = [".".join(("body", *(str(part) for part in e["loc"]))) for e in errors]
        message = "; ".join(f"{f}: {e['msg']}" for f, e in zip(fields, errors, strict=True))
        raise CallbackRejected(422, "invalid", message[:2000], fields) from error


def idempotency_key(request_id: str) -> str:
    """``bot-<request_id>``, as the update id; hashed when the id is not safe as it is.

    Unsafe characters are replaced for readability and a digest of the original id is
    appended, so two different request ids never share an update id.
    """
    key = f"bot-{request_id}"
    if _KEY_PATTERN.match(key) and 8 <= len(key) <= 128:
        return key
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:32]
    return f"bot-{_KEY_UNSAFE.sub('_', request_id)[:80]}.{digest}"


def photos_of(callback: BotCallback) -> list[Evidence]:
    """The evidence of a result or a verification: its photo link and uploaded photos."""
    linked = [Evidence(kind="photo", url=callback.photo_url)] if callback.photo_url else []
    return linked + [Evidence(kind="photo", attachment_id=i) for i in callback.attachment_ids]


def build_action(callback: BotCallback) -> tuple[Update, HumanAction]:
    """The workflow update for a callback: its name and its ``HumanAction``."""
    common = {
        "actor": Actor(role="steward", id=callback.steward_id),
        "idempotency_key": idempotency_key(callback.request_id),
        "attempt": callback.attempt,
    }
    action: HumanAction
    match callback.action:
        case "accept":
            action = AcceptTask(**common)
        case "decline":
            action = DeclineTask(**common, reason=callback.note)
        case "arrived":
            where = callback.location
            action = ReportArrived(**common, location=where.normalised() if where else None)
        case "resolved":
            assert callback.note is not None  # BotCallback requires it
            evidence = photos_of(callback)
            action = ReportResolved(**common, note=callback.note, evidence=evidence)
        case "escalate":
            assert callback.note is not None
            action = RequestEscalation(**common, reason=callback.note)
        case "verify_pass" | "verify_fail":
            # the existing ``verify`` update: its validator refuses the one who resolved it
            evidence = photos_of(callback)
            action = VerifyResult(
                actor=Actor(role="steward", id=callback.steward_id),
                idempotency_key=idempotency_key(callback.request_id),
                passed=callback.action == "verify_pass",
                note=callback.note,
                evidence=evidence,
            )
        case "suspend":
            # the steward handling an accepted case asks the center (the department's update)
            assert callback.note is not None and callback.reason_code is not None
            action = SuspensionRequest(
                actor=Actor(role="steward", id=callback.steward_id),
                idempotency_key=idempotency_key(callback.request_id),
                reason_code=callback.reason_code,
                reason=callback.note,
                resume_on=callback.resume_on,
                resume_condition=callback.resume_condition,
            )
    return UPDATE_BY_ACTION[callback.action], action


def render_answer(
    callback: BotCallback,
    language: str,
    result: BotResult,
    code: str | None = None,
    case_status: str | None = None,
) -> BotAnswer:
    """The answer with its message from ``templates/bot/<language>/answer_<result>.j2``."""
    context = {"case_id": callback.case_id, "action": callback.action, "code": code or ""}
    return BotAnswer.model_validate(
        {
            "request_id": callback.request_id,
            "result": result,
            "code": code,
            "message": render_steward(f"answer_{result}", language, context),
            "case_status": case_status,
        }
    )


async def process(
    client: Client,
    sessions: SessionFactory,
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float | None = None,
    pruner: BotRequestPruner = PRUNER,
    attachments: Library | None = None,
) -> Handled:
    """Check, act once, store and answer one callback (see the module docstring)."""
    verify_signature(secret, timestamp, signature, body, now)
    callback = parse_callback(body)
    if not check_action_token(
        secret,
        callback.token,
        callback.case_id,
        callback.steward_id,
        callback.attempt,
        callback.action,
    ):
        raise CallbackRejected(
            403, "forbidden", "this button does not belong to this steward, case and task"
        )
    stored = await _stored_answer(sessions, callback)
    if stored is not None:
        handled = Handled(stored, replayed=True)
    else:
        received_at = datetime.now(UTC)
        await _check_photos(attachments, callback)
        answer = await _act(client, sessions, callback)
        if attachments is not None and answer.result == "accepted":
            await attachments.bind(callback.attachment_ids, callback.case_id)
        handled = Handled(await _store(sessions, callback, answer, received_at), replayed=False)
    await pruner.maybe_prune(sessions)
    return handled


async def _check_photos(attachments: Library | None, callback: BotCallback) -> None:
    """422 unless the cited uploads are this steward's (or the case's already); a door
    without the library (tests, tools) takes none."""
    if not callback.attachment_ids:
        return
    try:
        if attachments is None:
            raise AttachmentRejected("attachments cannot be cited here", callback.attachment_ids)
        steward = Actor(role="steward", id=callback.steward_id)
        await attachments.check(callback.attachment_ids, steward, callback.case_id)
    except AttachmentRejected as error:
        message = f"{error.message}: {', '.join(error.ids)}"
        raise CallbackRejected(422, "invalid", message, ["body.attachment_ids"]) from error


async def _act(client: Client, sessions: SessionFactory, callback: BotCallback) -> BotAnswer:
    async with sessions() as session:
        steward = await session.get(Steward, callback.steward_id)
    language = steward.language if steward else "zh"
    update, action = build_action(callback)
    try:
        outcome = await cases.act(client, callback.case_id, update, action)
    except ActionRefused as refused:
        result = RESULT_BY_CODE.get(refused.code, "rejected")
        return render_answer(callback, language, result, refused.code)
    except cases.CaseNotFound:
        return render_answer(callback, language, "case_closed", "not_found")
    except WorkflowUnavailable as error:
        # Nothing was stored: the gateway retries with the same request_id, which is also
        # the update id, so the action still happens at most once.
        raise CallbackRejected(503, "unavailable", f"case {error}; retry") from error
    except RPCError as error:
        raise CallbackRejected(503, "unavailable", f"workflow service: {error.message}") from error
    return render_answer(callback, language, "accepted", None, outcome.status)


def _same_request(row: BotRequest, callback: BotCallback) -> BotAnswer:
    if (row.steward_id, row.case_id, row.action) != (
        callback.steward_id,
        callback.case_id,
        callback.action,
    ):
        raise CallbackRejected(
            409, "conflict", "request_id was already used for a different steward, case or action"
        )
    return BotAnswer.model_validate(row.answer)


async def _stored_answer(sessions: SessionFactory, callback: BotCallback) -> BotAnswer | None:
    async with sessions() as session:
        row = await session.get(BotRequest, callback.request_id)
    return None if row is None else _same_request(row, callback)


async def _store(
    sessions: SessionFactory, callback: BotCallback, answer: BotAnswer, received_at: datetime
) -> BotAnswer:
    """Insert the answer unless a concurrent duplicate did first; return whichever is stored.

    Two copies of one request racing past ``_stored_answer`` both reach the workflow, but
    with the same update id, so it acts once; here they converge on one stored answer.
    """
    async with sessions() as session, session.begin():
        insert = upsert_insert(session.get_bind().dialect.name)
        await session.execute(
            insert(BotRequest)
            .values(
                request_id=callback.request_id,
                steward_id=callback.steward_id,
                case_id=callback.case_id,
                action=callback.action,
                received_at=received_at,
                answer=answer.model_dump(mode="json"),
            )
            .on_conflict_do_nothing(index_elements=["request_id"])
        )
        row = await session.get(BotRequest, callback.request_id)
    assert row is not None  # inserted above, or by the duplicate that won
    return _same_request(row, callback)
