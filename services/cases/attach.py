"""Attach evidence to a case, starting the case first if needed: update-with-start.

One call to Temporal (``execute_update_with_start_workflow`` with
``WorkflowIDConflictPolicy.USE_EXISTING``) either starts the case's workflow and delivers the
update in its first task, or delivers the update to the running one: concurrent callers
with the same case id can never start it twice. ``REJECT_DUPLICATE`` keeps a closed case
closed: reporting to it raises ``CaseEnded``, and ``services.intake.merge`` moves on.

Temporal allows at most 10 in-flight updates per workflow: this process sends at most
``IN_FLIGHT_PER_CASE`` at a time per case (the SDK retries the RESOURCE_EXHAUSTED that
other replicas may still cause).

With no worker polling, Temporal holds an update until it times out: the call gives up
after ``services.temporal_gateway.UPDATE_TIMEOUT`` with ``WorkflowUnavailable`` (the device's retry
with the same event id is the same update id, so the report still counts once).

Search attributes and Web UI texts come from ``services.cases.filing.start_options``, as for every
other way a case starts.

``open_or_attach`` is the first report of a scene (the one that opened its generation in
``services.intake.merge``): its evidence is the filing's own, so it *starts* the case
(``FAIL`` on a taken id) and is answered as soon as Temporal has recorded the start, not
after the case's first workflow task has filed it, found its grid and offered a steward (a
chain of local activities: 300-500 ms at a few hundred reports a second, which was the
device path's p99). Only if the id is taken (another report of the scene started it first,
or the generation's case has ended) does it attach, as every later report does.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from constants import WF_CASE, case_workflow_id
from schemas.cases.workflow import ActionOutcome, AddEvidence, OpenCaseInput
from schemas.platform.updates import Update
from services import temporal_gateway
from services.cases.filing import start_options
from services.temporal_gateway import ActionRefused, WorkflowUnavailable, start_once

IN_FLIGHT_PER_CASE = 8


class CaseEnded(Exception):
    """The case has ended (closed or cancelled): it takes no more reports."""


_GATES: weakref.WeakValueDictionary[str, asyncio.Semaphore] = weakref.WeakValueDictionary()


def _gate(case_id: str) -> asyncio.Semaphore:
    """At most IN_FLIGHT_PER_CASE updates per case from this process (server allows 10)."""
    gate = _GATES.get(case_id)
    if gate is None:
        gate = asyncio.Semaphore(IN_FLIGHT_PER_CASE)
        _GATES[case_id] = gate
    return gate


async def attach(
    client: Client, inp: OpenCaseInput, action: AddEvidence, queue: str
) -> ActionOutcome:
    """``add_evidence`` to the case, starting it first if it does not exist: one call.

    A case this call starts is filed without ``inp``'s evidence: the update carries it, and
    the filing's evidence is the opener's alone (``open_or_attach``), so no report is in a
    case twice when a later report's update reached Temporal before the opener's start."""
    operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        WF_CASE,
        inp.model_copy(update={"evidence": []}),
        id=case_workflow_id(inp.case_id),
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        **start_options(inp),
    )
    async with _gate(inp.case_id):
        try:
            async with asyncio.timeout(temporal_gateway.UPDATE_TIMEOUT.total_seconds()):
                outcome: ActionOutcome = await client.execute_update_with_start_workflow(
                    Update.ADD_EVIDENCE.value,
                    action,
                    result_type=ActionOutcome,
                    start_workflow_operation=operation,
                    id=action.idempotency_key,
                    rpc_timeout=temporal_gateway.UPDATE_TIMEOUT,
                )
                return outcome
        except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError) as error:
            await _settle(operation)
            raise WorkflowUnavailable(
                inp.case_id, "no worker answered the update in time"
            ) from error
        except WorkflowAlreadyStartedError as error:  # closed, and ids are not reused
            await _settle(operation)
            raise CaseEnded(inp.case_id) from error
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == "case_ended":
                raise CaseEnded(inp.case_id) from error
            code = cause.type if isinstance(cause, ApplicationError) else None
            raise ActionRefused(code or "rejected", str(cause)) from error
        except RPCError as error:
            await _settle(operation)
            # ALREADY_EXISTS: how the Java test server says "closed"; NOT_FOUND: it completed
            # between the start check and the update.
            if error.status in (RPCStatusCode.ALREADY_EXISTS, RPCStatusCode.NOT_FOUND):
                raise CaseEnded(inp.case_id) from error
            raise


async def open_or_attach(
    client: Client, inp: OpenCaseInput, action: AddEvidence, queue: str
) -> int:
    """Start the case with this report as its filing's evidence; else ``attach`` it.

    Returns the update's sequence number (0: started, the report is the filing's evidence).
    """
    started = await start_once(
        client,
        WF_CASE,
        inp,
        workflow_id=case_workflow_id(inp.case_id),
        task_queue=queue,
        request=None,
        **start_options(inp),
    )
    if started:
        return 0
    outcome = await attach(client, inp, action, queue)
    return outcome.seq


async def _settle(operation: WithStartWorkflowOperation[Any, Any]) -> None:
    """Collect the start operation's failure so asyncio does not log it as unretrieved."""
    try:
        await asyncio.wait_for(operation.workflow_handle(), timeout=0.1)
    except asyncio.CancelledError:
        # a start cut short by the update's timeout fails with the cancellation it met;
        # only a cancellation of this task itself goes on up
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except Exception:  # the very failure we are handling, or a timeout: nothing to do
        return
