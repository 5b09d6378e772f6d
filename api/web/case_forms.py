"""The case-action form helper: one table of the actions a signed-in user may take on a
case, parsed and run through the very functions the ``/supervisors`` and ``/departments``
JSON routes call.

Each action names its update, its body model (``schemas.cases.workflow``: the same validation as the
JSON route) and its fields. ``offered`` only decides which forms the page shows: it reads
the case's view the way a person would (nothing to verify before a result; no deadline to
extend without one). The workflow's validator stays the one authority: a form that is
shown but no longer fits (someone else acted meanwhile) gets its 409 reason back, in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client

from api.route_helpers import perform
from api.web.suspension_forms import REASON_CODES, REFUSAL_CODES, suspension_state
from schemas.cases.suspension import (
    ResumeCase,
    ResumeCaseBody,
    SuspensionDecision,
    SuspensionDecisionBody,
    SuspensionRequest,
    SuspensionRequestBody,
)
from schemas.cases.views import CaseView
from schemas.cases.workflow import (
    ActionOutcome,
    CancelCase,
    CancelCaseBody,
    DepartmentAccept,
    DepartmentAcceptBody,
    DepartmentExtension,
    DepartmentExtensionBody,
    DepartmentReport,
    DepartmentReportBody,
    DepartmentReturn,
    DepartmentReturnBody,
    EscalateCase,
    EscalateCaseBody,
    ExtendDeadline,
    ExtendDeadlineBody,
    ReassignCase,
    ReassignCaseBody,
    UrgeCase,
    UrgeCaseBody,
    VerifyResult,
    VerifyResultBody,
)
from schemas.platform.common import Actor, Evidence, HumanAction
from schemas.platform.updates import Update
from schemas.worktime import TOWN_TZ
from services.attachments.library import Library
from services.cases import reassign as reassign_service
from services.platform.db import SessionFactory

WAITING_FOR_VERIFICATION = ("resolved", "verified")


@dataclass(frozen=True)
class Field:
    """One input of a form: ``kind`` is text, textarea, number, datetime (town time), choice
    (a select of ``choices``, or of the departments when there are none), pass_fail or
    approve_refuse."""

    name: str
    kind: str
    required: bool = True
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionForm:
    """One action a signed-in user may take on a case, as a form."""

    name: str  # the URL segment and the form's id
    update: Update  # the workflow update the JSON route runs
    body: type[BaseModel]
    model: type[HumanAction]
    role: str
    fields: tuple[Field, ...]
    offered: Callable[[CaseView, Actor], bool]
    photos: str | None = None  # the upload purpose when the form takes photos (multipart)


def _open(view: CaseView, actor: Actor | None = None) -> bool:
    return view.status not in ("closed", "cancelled")


def _running(view: CaseView, actor: Actor | None = None) -> bool:
    """Open and not suspended: a suspended case's clock is stopped (nothing to urge or
    extend) and it waits for the center's resume before anything else moves it."""
    return _open(view) and view.status != "suspended"


def _held_by(view: CaseView, actor: Actor) -> bool:
    """The clerk's department holds the case now."""
    return view.handler == "department" and view.department == actor.id


WITH_DEPARTMENT = ("escalated", "department_handling")


ACTIONS: tuple[ActionForm, ...] = (
    ActionForm(
        "verify",
        Update.VERIFY,
        VerifyResultBody,
        VerifyResult,
        "supervisor",
        (Field("passed", "pass_fail"), Field("note", "textarea", required=False)),
        lambda v, a: v.status == "resolved",
    ),
    ActionForm(
        "urge",
        Update.URGE,
        UrgeCaseBody,
        UrgeCase,
        "supervisor",
        (Field("note", "textarea"),),
        _running,
    ),
    ActionForm(
        "extend",
        Update.EXTEND_DEADLINE,
        ExtendDeadlineBody,
        ExtendDeadline,
        "supervisor",
        (Field("hours", "number"), Field("reason", "textarea")),
        lambda v, a: _running(v) and v.deadline is not None,
    ),
    ActionForm(
        "reassign",
        Update.REASSIGN,
        ReassignCaseBody,
        ReassignCase,
        "supervisor",
        (Field("steward_id", "text", required=False), Field("reason", "textarea")),
        lambda v, a: _running(v) and v.status not in WAITING_FOR_VERIFICATION,
    ),
    ActionForm(
        "escalate",
        Update.ESCALATE,
        EscalateCaseBody,
        EscalateCase,
        "supervisor",
        (Field("department", "choice", required=False), Field("reason", "textarea")),
        lambda v, a: _running(v) and v.status not in WAITING_FOR_VERIFICATION,
    ),
    ActionForm(
        "cancel",
        Update.CANCEL,
        CancelCaseBody,
        CancelCase,
        "supervisor",
        (Field("reason", "textarea"),),
        _open,
    ),
    # a department clerk's own actions, as /departments/{code}/cases/{id}/... (item 2's desk
    # will list the cases; the page already lets a clerk act on one)
    ActionForm(
        "accept",
        Update.DEPARTMENT_ACCEPT,
        DepartmentAcceptBody,
        DepartmentAccept,
        "department",
        (),
        lambda v, a: _held_by(v, a) and v.status == "escalated",
    ),
    ActionForm(
        "result",
        Update.DEPARTMENT_REPORT,
        DepartmentReportBody,
        DepartmentReport,
        "department",
        (Field("note", "textarea"),),
        lambda v, a: _held_by(v, a) and v.status in WITH_DEPARTMENT,
        photos="department_result",
    ),
    ActionForm(
        "extension",
        Update.DEPARTMENT_EXTENSION,
        DepartmentExtensionBody,
        DepartmentExtension,
        "department",
        (Field("hours", "number"), Field("reason", "textarea")),
        lambda v, a: _held_by(v, a) and v.status in WITH_DEPARTMENT and v.deadline is not None,
    ),
    ActionForm(
        "return",
        Update.DEPARTMENT_RETURN,
        DepartmentReturnBody,
        DepartmentReturn,
        "department",
        (Field("reason", "textarea"),),
        lambda v, a: _held_by(v, a) and v.status in WITH_DEPARTMENT,
    ),
    # suspension (缓办): the holding department asks, the center decides and resumes
    ActionForm(
        "suspend",
        Update.REQUEST_SUSPENSION,
        SuspensionRequestBody,
        SuspensionRequest,
        "department",
        (
            Field("reason_code", "choice", choices=REASON_CODES),
            Field("reason", "textarea"),
            Field("resume_on", "datetime", required=False),
            Field("resume_condition", "text", required=False),
        ),
        lambda v, a: _held_by(v, a) and v.status in WITH_DEPARTMENT and suspension_state(v) is None,
    ),
    ActionForm(
        "decide",
        Update.DECIDE_SUSPENSION,
        SuspensionDecisionBody,
        SuspensionDecision,
        "supervisor",
        (
            Field("approve", "approve_refuse"),
            Field("refusal_code", "choice", required=False, choices=REFUSAL_CODES),
            Field("note", "textarea", required=False),
        ),
        lambda v, a: _open(v) and suspension_state(v) == "requested",
    ),
    ActionForm(
        "resume",
        Update.RESUME_CASE,
        ResumeCaseBody,
        ResumeCase,
        "supervisor",
        (Field("note", "textarea"),),
        lambda v, a: _open(v) and v.status == "suspended",
    ),
)
BY_NAME = {form.name: form for form in ACTIONS}


def offered_to(actor: Actor, view: CaseView) -> list[ActionForm]:
    """The forms this user sees on this case now."""
    return [form for form in ACTIONS if form.role == actor.role and form.offered(view, actor)]


def parse(
    form: ActionForm, data: dict[str, str], evidence: list[Evidence] | None = None
) -> BaseModel:
    """The JSON route's body model from the form's fields (ValidationError if they do not fit).

    Empty optional fields are left out; hours become the model's timedelta; the photos
    uploaded with the form (``api.web.photos``) are its evidence, by attachment id."""
    values: dict[str, Any] = {"evidence": evidence} if evidence else {}
    for field in form.fields:
        raw = data.get(field.name, "").strip()
        if not raw and not field.required:
            continue
        if field.kind == "pass_fail":
            values[field.name] = raw == "pass" if raw in ("pass", "fail") else raw
        elif field.kind == "approve_refuse":
            values[field.name] = raw == "approve" if raw in ("approve", "refuse") else raw
        elif field.kind == "datetime":
            values[field.name] = _town_instant(raw)
        elif field.kind == "number":
            try:
                values["extra"] = timedelta(hours=float(raw))
            except (ValueError, OverflowError):
                values["extra"] = raw
        else:
            values[field.name] = raw
    return form.body.model_validate(values)


def _town_instant(raw: str) -> datetime | str:
    """A ``datetime-local`` input is the town's wall time; the model refuses what is not."""
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    return when if when.tzinfo else when.replace(tzinfo=TOWN_TZ)


async def run(
    client: Client,
    sessions: SessionFactory,
    case_id: str,
    form: ActionForm,
    body: BaseModel,
    actor: Actor,
    idempotency_key: str,
    attachments: Library | None = None,
) -> ActionOutcome:
    """Exactly what the JSON route does for this action (reassign checks the named steward;
    cited photos are checked and filed under the case by ``perform``, as /departments)."""
    if form.name == "reassign":
        action = ReassignCase(**body.model_dump(), actor=actor, idempotency_key=idempotency_key)
        return await reassign_service.reassign(client, sessions, case_id, action)
    return await perform(
        client, case_id, form.update, form.model, body, actor, idempotency_key, attachments
    )
