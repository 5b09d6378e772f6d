"""The one way from the API into any workflow: start once, update, query with fallback.

Every domain (cases, inspections, rectifications, rounds) starts and acts on its workflows
through these functions and passes its own not-found error, so that a missing inspection
is an ``InspectionNotFound`` and a missing case a ``CaseNotFound``, both ``NotFound``
(404). Temporal's errors become the service's own: a validator's refusal
``ActionRefused`` (409), no worker answering in time ``WorkflowUnavailable`` (503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from schemas.platform.common import HumanAction
from schemas.platform.updates import Update, update_id
from services.platform import requests

R = TypeVar("R", bound=BaseModel)

# How long a request waits for a worker: a query or an update is answered by a worker, so
# with none polling (workers restarting, all down) Temporal holds the call until it times
# out. Past these the API answers 503 (or shows the projection) instead of hanging.
QUERY_TIMEOUT = timedelta(seconds=5)
UPDATE_TIMEOUT = timedelta(seconds=10)
KEY_REUSED = "this Idempotency-Key was used for another request; use a new key"


class NotFound(Exception):
    """No workflow and no projection for this id (HTTP 404); each domain subclasses it so
    the answer names what was looked for."""

    kind = "workflow"


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


async def start_once(
    client: Client,
    workflow: str,
    arg: BaseModel,
    *,
    workflow_id: str,
    task_queue: str,
    request: str | None,
    reuse: bool = False,
    **options: Any,
) -> bool:
    """Start ``workflow`` under ``workflow_id``; False if it already exists (a retried
    create). An id is used once (``REJECT_DUPLICATE``) unless ``reuse`` (a reopened case).
    ``request`` is the create's fingerprint (``services.platform.requests``): the same key
    with another body is ``ActionRefused("idempotency_key_reused")``."""
    try:
        await client.start_workflow(
            workflow,
            arg,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE
            if reuse
            else WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo=requests.memo(request),
            **options,
        )
    except WorkflowAlreadyStartedError:
        if not await requests.same_request(client, workflow_id, request):
            raise ActionRefused(requests.REUSED, KEY_REUSED) from None
        return False
    return True


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
    client: Client,
    workflow_id: str,
    query: str,
    result_type: type[R],
    *,
    subject: str,
    not_found: type[NotFound],
) -> R:
    """Run a query with ``QUERY_TIMEOUT``; ``WorkflowUnavailable`` if nobody answers, and
    ``not_found(subject)`` for an unknown workflow."""
    try:
        result: R = await client.get_workflow_handle(workflow_id).query(
            query, result_type=result_type, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise not_found(subject) from error
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
        return await query_workflow(
            client, workflow_id, "view", result_type, subject=workflow_id, not_found=NotFound
        )
    except NotFound:  # gone between the two calls (retention)
        return None


async def live_or_projected(
    client: Client,
    workflow_id: str,
    result_type: type[R],
    projected: Callable[[], Awaitable[R | None]],
    *,
    subject: str,
    not_found: type[NotFound],
) -> tuple[R, bool]:
    """``(view, live)``: the workflow's own view while it runs and a worker answers; else
    the projection (a little behind while workers restart; complete once it has ended).

    ``not_found(subject)`` when neither exists; ``WorkflowUnavailable`` when the workflow
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
        raise not_found(subject)
    return fallback, False


async def run_update(
    client: Client,
    workflow_id: str,
    update: Update,
    action: HumanAction,
    result_type: type[R],
    *,
    subject: str,
    ended: tuple[str, str],
    not_found: type[NotFound],
) -> R:
    """One human action as an update on any workflow, its update id the idempotency key
    scoped to the update and the body (``schemas.platform.updates.update_id``): Temporal answers a
    known update id itself, so only an exact repeat may share one; any other use of the
    key reaches the validator, which refuses it (``idempotency_key_reused``).

    A validator's refusal becomes ``ActionRefused`` with its code; an unknown workflow
    ``not_found(subject)``; an ended one ``ActionRefused(*ended)``; no worker answering
    within ``UPDATE_TIMEOUT``, or Temporal not answering, ``WorkflowUnavailable``.
    """
    handle = client.get_workflow_handle(workflow_id)
    try:
        # rpc_timeout bounds each call; the SDK may poll again after an empty answer, so
        # the whole wait is bounded too
        async with asyncio.timeout(UPDATE_TIMEOUT.total_seconds()):
            outcome: R = await handle.execute_update(
                update.value,
                action,
                id=update_id(update.value, action),
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
            raise not_found(subject) from error
        raise ActionRefused(*ended) from error
    return outcome
