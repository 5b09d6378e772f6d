"""Shared plumbing for routes that turn a request body into a workflow update."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from temporalio.client import Client

from api.errors import UNAVAILABLE
from schemas.case import ActionOutcome, HumanAction
from schemas.common import Actor
from schemas.updates import Update
from services.cases import operations as cases

ACTION_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": "the body is not UTF-8 JSON"},
    401: {"description": "no valid token"},
    403: {"description": "wrong role"},
    404: {"description": "no such case"},
    409: {"description": "the case's state refused the action; nothing was recorded"},
    422: {"description": "invalid body"},
    413: {"description": "body over 64 KiB"},
    503: UNAVAILABLE,
}


async def perform(
    client: Client,
    case_id: str,
    update: Update,
    model: type[HumanAction],
    body: BaseModel,
    actor: Actor,
    idempotency_key: str | None,
) -> ActionOutcome:
    """Build the update from body + principal + key and run it on the case's workflow."""
    action = model(**body.model_dump(), actor=actor, idempotency_key=key_or_new(idempotency_key))
    return await cases.act(client, case_id, update, action)


def key_or_new(idempotency_key: str | None) -> str:
    """The caller's key, or a fresh one (then a retry is a new action)."""
    return idempotency_key or f"auto-{uuid.uuid4().hex}"
