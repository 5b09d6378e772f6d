"""Starting cases and acting on them through Temporal: the API's only way into workflows.

Routes call these functions; they hold the rules of intake (catalog, grid, idempotent ids)
and translate Temporal's errors into the service's own (not found, action refused, and
unavailable when no worker answers in time).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from constants import (
    SA_CASE_TYPE,
    SA_GRID,
    SA_KIND,
    SA_MICRO_GRID,
    SA_PRIORITY,
    SA_SOURCE,
    SA_STATUS,
    case_workflow_id,
)
from schemas.api import CreateCase
from schemas.case import (
    ActionOutcome,
    AddEvidence,
    CaseView,
    HumanAction,
    MergeCase,
    OpenCaseInput,
    ReopenInfo,
)
from schemas.catalog import Catalog
from schemas.common import Actor, CaseSource
from schemas.tables import CaseRecord
from services import requests
from services.db import SessionFactory
from services.geo import GridIndex
from workflows.idempotency import update_id

R = TypeVar("R", bound=BaseModel)

# How long a request waits for a worker: a query or an update is answered by a worker, so
# with none polling (workers restarting, all down) Temporal holds the call until it times
# out. Past these the API answers 503 (or shows the projection) instead of hanging.
QUERY_TIMEOUT = timedelta(seconds=5)
UPDATE_TIMEOUT = timedelta(seconds=10)
KEY_REUSED = "this Idempotency-Key was used for another request; use a new key"
CASE_ID_NAMESPACE = uuid.UUID("6f1c9a52-8f0e-4d7e-9a35-3b1d2f0c4e11")

# Which sources each reporter may claim (the first is the default). The center may file on
# anyone's behalf (a call taken by phone); everyone else reports as what they are.
SOURCES_BY_ROLE: dict[str, tuple[CaseSource, ...]] = {
    "steward": ("steward",),
    "device": ("camera", "sensor"),
    "citizen": ("citizen",),
    "supervisor": ("supervisor", "steward", "camera", "sensor", "citizen", "open311"),
    "system": ("open311",),
}


class IntakeError(Exception):
    """A report that cannot become a case; names the field at fault (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class CaseNotFound(Exception):
    """No workflow and no projection for this case id (HTTP 404)."""


class WorkflowUnavailable(Exception):
    """The workflow exists but could not answer now (HTTP 503 with ``Retry-After``).

    No worker answered within the timeout, or Temporal itself did not answer. Nothing was
    recorded that a retry with the same idempotency key would repeat: an update that
    Temporal admitted runs once a worker is back, and a retry with the same key gets its
    answer.
    """

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"{subject}: {reason}")
        self.subject = subject
        self.reason = reason


class ActionRefused(Exception):
    """The workflow's validator rejected the action (HTTP 409); nothing was recorded."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def new_case_id(reporter: Actor, idempotency_key: str | None) -> str:
    """A fresh id, or the same id for the same reporter and idempotency key."""
    if idempotency_key:
        value = uuid.uuid5(CASE_ID_NAMESPACE, f"{reporter.role}:{reporter.id}:{idempotency_key}")
    else:
        value = uuid.uuid4()
    return "GP-" + value.hex[:16].upper()


def build_case_input(
    request: CreateCase,
    reporter: Actor,
    case_id: str,
    catalog: Catalog,
    grids: GridIndex,
    now: datetime | None = None,
) -> OpenCaseInput:
    """File a report: classify it by the catalog and place it in its grid, or refuse it."""
    if catalog.case_type(request.case_type) is None:
        raise IntakeError("case_type", f"unknown case type {request.case_type!r}")
    hit = grids.locate(request.location.lat, request.location.lon)
    if hit is None:
        raise IntakeError("location", "the point is outside every grid of the town")
    allowed = SOURCES_BY_ROLE.get(reporter.role, ())
    if not allowed:
        raise IntakeError("source", f"a {reporter.role} cannot report cases here")
    source = request.source or allowed[0]
    if source not in allowed:
        raise IntakeError("source", f"a {reporter.role} reports as {allowed[0]}, not {source}")
    return OpenCaseInput(
        case_id=case_id,
        source=source,
        reporter=reporter,
        description=request.description,
        location=request.location,
        address=request.address,
        grid_id=hit.grid_id,
        micro_grid_id=hit.micro_grid_id,
        reported_at=now or datetime.now(UTC),
        evidence=request.evidence,
        policy=catalog.policy_for(request.case_type),
    )


def start_options(inp: OpenCaseInput) -> dict[str, Any]:
    """Search attributes and Web UI texts of a new case, shared by every way a case starts."""
    case_type = inp.policy.case_type
    attributes: list[SearchAttributePair[Any]] = [
        SearchAttributePair(SA_KIND, "case"),
        SearchAttributePair(SA_CASE_TYPE, case_type.code),
        SearchAttributePair(SA_STATUS, "reported"),
        SearchAttributePair(SA_GRID, inp.grid_id),
        SearchAttributePair(SA_SOURCE, inp.source),
        SearchAttributePair(SA_PRIORITY, case_type.priority),
    ]
    if inp.micro_grid_id:
        attributes.append(SearchAttributePair(SA_MICRO_GRID, inp.micro_grid_id))
    summary = (
        f"{case_type.name_en} / {case_type.name_zh} in grid {inp.grid_id}, "
        f"reported by {inp.source} {inp.reporter.id}"
    )
    details = (
        f"Priority {case_type.priority}, department {inp.policy.department.name_en}. "
        f"{inp.description}"
    )
    return {
        "search_attributes": TypedSearchAttributes(attributes),
        "static_summary": summary[:200],
        "static_details": details,
    }


async def start_case(
    client: Client,
    inp: OpenCaseInput,
    task_queue: str,
    *,
    reopening: bool = False,
    request: str | None = None,
) -> bool:
    """Start the case's workflow; False if it already existed (a retried create).

    A case id is used once (``REJECT_DUPLICATE``), except by a supervisor's reopen, which
    starts a new run of a closed case's workflow id. ``request`` is the create's
    fingerprint (``services.requests``): the same key with another body is refused.
    """
    from workflows.case import CaseWorkflow

    workflow_id = case_workflow_id(inp.case_id)
    try:
        await client.start_workflow(
            CaseWorkflow.run,
            inp,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE
            if reopening
            else WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo=requests.memo(request),
            **start_options(inp),
        )
    except WorkflowAlreadyStartedError:
        if not await requests.same_request(client, workflow_id, request):
            raise ActionRefused(requests.REUSED, KEY_REUSED) from None
        return False
    return True


def handle(client: Client, case_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(case_workflow_id(case_id))


async def workflow_running(client: Client, workflow_id: str) -> bool | None:
    """True while the workflow runs, False once ended, None if there is none.

    Reads the raw execution status only: decoding every search attribute is not needed
    here (and the Java test server encodes Datetime ones in a way the SDK cannot read).
    """
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    try:
        response = await client.workflow_service.describe_workflow_execution(request)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    status = response.workflow_execution_info.status
    return bool(status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING)


async def is_running(client: Client, case_id: str) -> bool | None:
    """``workflow_running`` for a case id."""
    return await workflow_running(client, case_workflow_id(case_id))


def _unavailable(subject: str, what: str, error: BaseException) -> WorkflowUnavailable:
    """Why a query or an update got no answer, in words an operator can act on."""
    if isinstance(error, RPCError):
        if error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            return WorkflowUnavailable(subject, f"no worker answered the {what} in time")
        return WorkflowUnavailable(
            subject, f"Temporal did not take the {what} ({error.status.name}: {error.message})"
        )
    if isinstance(error, WorkflowQueryFailedError | WorkflowQueryRejectedError):
        return WorkflowUnavailable(subject, f"the workflow could not answer the {what}: {error}")
    return WorkflowUnavailable(subject, f"no worker answered the {what} in time")


async def query_workflow(
    client: Client, workflow_id: str, query: str, result_type: type[R], *, subject: str
) -> R:
    """Run a query with ``QUERY_TIMEOUT``; ``WorkflowUnavailable`` if nobody answers.

    An unknown workflow is ``CaseNotFound(subject)``.
    """
    try:
        result: R = await client.get_workflow_handle(workflow_id).query(
            query, result_type=result_type, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise CaseNotFound(subject) from error
        raise _unavailable(subject, "query", error) from error
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
        raise _unavailable(subject, "query", error) from error
    return result


async def live_query(client: Client, workflow_id: str, result_type: type[R]) -> R | None:
    """The workflow's ``view`` while it runs; None once it has ended (read the projection).

    ``WorkflowUnavailable`` when it runs but no worker answers within ``QUERY_TIMEOUT``:
    callers with a projection show it instead (see ``live_or_projected``).
    """
    try:
        running = await workflow_running(client, workflow_id)
    except RPCError as error:
        raise _unavailable(workflow_id, "query", error) from error
    if not running:
        return None
    try:
        return await query_workflow(client, workflow_id, "view", result_type, subject=workflow_id)
    except CaseNotFound:  # gone between the two calls (retention)
        return None


async def live_or_projected(
    client: Client,
    workflow_id: str,
    result_type: type[R],
    projected: Callable[[], Awaitable[R | None]],
    subject: str,
) -> tuple[R, bool]:
    """``(view, live)``: the workflow's own view while it runs and a worker answers; else
    the projection (a little behind while workers restart; complete once it has ended).

    ``CaseNotFound(subject)`` when neither exists; ``WorkflowUnavailable`` when the workflow
    runs, no worker answers, and nothing has been projected yet (a case started while every
    worker is down): a 404 would tell the caller it does not exist.
    """
    try:
        view = await live_query(client, workflow_id, result_type)
    except WorkflowUnavailable as unavailable:
        fallback = await projected()
        if fallback is None:
            raise WorkflowUnavailable(subject, unavailable.reason) from unavailable
        return fallback, False
    if view is not None:
        return view, True
    fallback = await projected()
    if fallback is None:
        raise CaseNotFound(subject)
    return fallback, False


async def live_view(client: Client, case_id: str) -> CaseView | None:
    """The case workflow's own view (see ``live_query``)."""
    return await live_query(client, case_workflow_id(case_id), CaseView)


async def case_view(
    client: Client, case_id: str, projected: Callable[[], Awaitable[CaseView | None]]
) -> tuple[CaseView, bool]:
    """``(view, live)`` of a case (see ``live_or_projected``)."""
    return await live_or_projected(client, case_workflow_id(case_id), CaseView, projected, case_id)


async def run_update(
    client: Client,
    workflow_id: str,
    update: str,
    action: HumanAction,
    result_type: type[R],
    *,
    subject: str,
    ended: tuple[str, str],
) -> R:
    """One human action as an update on any workflow, its update id the idempotency key
    scoped to the update and the body (``workflows.idempotency.update_id``): Temporal
    answers a known update id itself, so only an exact repeat may share one; any other
    use of the key reaches the validator, which refuses it (``idempotency_key_reused``).

    A validator's refusal becomes ``ActionRefused`` with its code; an unknown workflow
    ``CaseNotFound(subject)``; an ended one ``ActionRefused(*ended)``; no worker answering
    within ``UPDATE_TIMEOUT``, or Temporal not answering, ``WorkflowUnavailable``.
    """
    handle = client.get_workflow_handle(workflow_id)
    try:
        # rpc_timeout bounds each call; the SDK may poll again after an empty answer, so
        # the whole wait is bounded too
        async with asyncio.timeout(UPDATE_TIMEOUT.total_seconds()):
            outcome: R = await handle.execute_update(
                update,
                action,
                id=update_id(update, action),
                result_type=result_type,
                rpc_timeout=UPDATE_TIMEOUT,
            )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError):
            raise ActionRefused(cause.type or "rejected", cause.message) from error
        raise ActionRefused("rejected", str(cause)) from error
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError) as error:
        raise _unavailable(subject, "update", error) from error
    except RPCError as error:
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            raise  # a bug of ours, not an outage: a 500 that gets looked at
        if error.status != RPCStatusCode.NOT_FOUND:
            raise _unavailable(subject, "update", error) from error
        if await workflow_running(client, workflow_id) is None:
            raise CaseNotFound(subject) from error
        raise ActionRefused(*ended) from error
    return outcome


async def act(client: Client, case_id: str, update: str, action: HumanAction) -> ActionOutcome:
    """Run one human action on a case (see ``run_update``)."""
    return await run_update(
        client,
        case_workflow_id(case_id),
        update,
        action,
        ActionOutcome,
        subject=case_id,
        ended=("case_ended", "the case has ended"),
    )


async def original_input(client: Client, case_id: str) -> OpenCaseInput:
    """The input the case's latest run started with (its policy snapshot included)."""
    async for event in handle(client, case_id).fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [inp] = await client.data_converter.decode(payloads, [OpenCaseInput])
        assert isinstance(inp, OpenCaseInput)
        return inp
    raise CaseNotFound(case_id)


async def reopen_case(
    client: Client,
    sessions: SessionFactory,
    case_id: str,
    actor: Actor,
    reason: str,
    task_queue: str,
) -> None:
    """Run a closed case again: its timeline continues, and the reopen counts as rework."""
    running = await is_running(client, case_id)
    if running is None:
        raise CaseNotFound(case_id)
    if running:
        raise ActionRefused("still_open", "the case is still open: use reassign or escalate")
    async with sessions() as session:
        row = await session.get(CaseRecord, case_id)
    if row is None or row.status != "closed":
        raise ActionRefused("not_closed", "only a closed case can be reopened")
    reopen = ReopenInfo(
        by=actor, reason=reason, previous_seq=row.last_seq, previous_rework=row.rework_count
    )
    inp = (await original_input(client, case_id)).model_copy(update={"reopen": reopen})
    if not await start_case(client, inp, task_queue, reopening=True):
        raise ActionRefused("already_reopened", "someone reopened this case a moment ago")


async def merge_cases(client: Client, case_id: str, action: MergeCase) -> ActionOutcome:
    """Merge a duplicate into another open case: its evidence moves, then it is cancelled."""
    if action.target_case_id == case_id:
        raise ActionRefused("same_case", "a case cannot be merged into itself")
    if not await is_running(client, action.target_case_id):
        raise ActionRefused("target_not_open", f"case {action.target_case_id} is not open")
    source = await live_view(client, case_id)
    if source is None:
        if await is_running(client, case_id) is None:
            raise CaseNotFound(case_id)
        raise ActionRefused("case_ended", "the case has ended")
    evidence = list(dict.fromkeys(e for entry in source.timeline for e in entry.evidence))[:20]
    note = f"merged from {case_id}: {action.reason}"[:2000]
    moved = AddEvidence(
        actor=action.actor,
        idempotency_key=f"{action.idempotency_key[:120]}.target",
        evidence=evidence,
        note=note,
    )
    await act(client, action.target_case_id, "add_evidence", moved)
    return await act(client, case_id, "merge_into", action)
