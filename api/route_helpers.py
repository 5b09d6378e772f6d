"""What routes share: a body turned into a workflow update, links into the Web UI.

Every action route builds its update the same way (body + authenticated caller + the
caller's idempotency key, or a fresh one) and answers the same errors (``ACTION_ERRORS``);
routes stay thin and differ only in the update they name.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel
from temporalio.client import Client

from api.errors import UNAVAILABLE
from constants import case_workflow_id
from schemas.cases.api import CaseLinks, Problem
from schemas.cases.workflow import ActionOutcome
from schemas.platform.common import Actor, HumanAction
from schemas.platform.updates import Update
from services.attachments.citations import check_cited
from services.attachments.library import Library
from services.cases import operations as cases
from services.inspections import operations as inspections
from settings import Settings

# What a route that creates something (a case, an inspection, a record) may answer.
CREATE_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "the body is not UTF-8 JSON"},
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    409: {"model": Problem, "description": "idempotency_key_reused: the key named another request"},
    422: {"model": Problem},
}
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


H = TypeVar("H", bound=HumanAction)
R = TypeVar("R", bound=BaseModel)


def build_action(
    model: type[H], body: BaseModel, actor: Actor, idempotency_key: str | None, **extra: Any
) -> H:
    """The update's argument: the body, the authenticated caller, the key (or a fresh one)."""
    return model(
        **body.model_dump(), actor=actor, idempotency_key=key_or_new(idempotency_key), **extra
    )


async def perform(
    client: Client,
    case_id: str,
    update: Update,
    model: type[HumanAction],
    body: BaseModel,
    actor: Actor,
    idempotency_key: str | None,
    attachments: Library | None = None,
) -> ActionOutcome:
    """Build the update from body + principal + key and run it on the case's workflow.

    Attachment ids in the body's evidence are checked first (``attachments``; a route
    that passes none refuses them) and filed under the case once the update took them.
    """
    cited = await check_cited(attachments, body, actor, case_id)
    outcome = await cases.act(
        client, case_id, update, build_action(model, body, actor, idempotency_key)
    )
    if attachments is not None:
        await attachments.bind(cited, case_id)
    return outcome


async def perform_on(
    client: Client,
    workflow_id: str,
    update: Update,
    model: type[HumanAction],
    body: BaseModel,
    actor: Actor,
    idempotency_key: str | None,
    result_type: type[R],
    attachments: Library | None = None,
) -> R:
    """``perform`` on an inspection, a rectification or a round."""
    cited = await check_cited(attachments, body, actor, workflow_id)
    action = build_action(model, body, actor, idempotency_key)
    result = await inspections.act(client, workflow_id, update, action, result_type)
    if attachments is not None:
        await attachments.bind(cited, workflow_id, owner_kind="inspection")
    return result


def key_or_new(idempotency_key: str | None) -> str:
    """The caller's key, or a fresh one (then a retry is a new action)."""
    return idempotency_key or f"auto-{uuid.uuid4().hex}"


def temporal_ui(settings: Settings, workflow_id: str) -> str:
    """The Web UI page of one workflow."""
    return (
        f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
        f"/workflows/{quote(workflow_id)}"
    )


def case_links(settings: Settings, case_id: str) -> CaseLinks:
    """Where a case is read: its detail, its timeline, its page in the Web UI."""
    return CaseLinks(
        self=f"/cases/{case_id}",
        timeline=f"/cases/{case_id}/timeline",
        temporal_ui=temporal_ui(settings, case_workflow_id(case_id)),
    )
