"""Starting cases and acting on them through Temporal (``services.temporal_gateway``).

Routes call these functions; filing rules live in ``services.cases.filing``. A case that
exists neither in Temporal nor in the projection is ``CaseNotFound`` (404).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client, WorkflowHandle

from constants import WF_CASE, case_workflow_id
from schemas.cases.tables import CaseRecord
from schemas.cases.views import CaseView
from schemas.cases.workflow import ActionOutcome, AddEvidence, MergeCase, OpenCaseInput, ReopenInfo
from schemas.platform.common import Actor, HumanAction
from schemas.platform.updates import Update
from services.cases.filing import start_options
from services.platform.db import SessionFactory
from services.temporal_gateway import (
    ActionRefused,
    NotFound,
    live_or_projected,
    live_query,
    run_update,
    start_once,
    workflow_running,
)


class CaseNotFound(NotFound):
    """No workflow and no projection for this case id (HTTP 404)."""

    kind = "case"


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
    fingerprint (``services.platform.requests``): the same key with another body is refused.
    """
    return await start_once(
        client,
        WF_CASE,
        inp,
        workflow_id=case_workflow_id(inp.case_id),
        task_queue=task_queue,
        request=request,
        reuse=reopening,
        **start_options(inp),
    )


def handle(client: Client, case_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(case_workflow_id(case_id))


async def is_running(client: Client, case_id: str) -> bool | None:
    """``workflow_running`` for a case id."""
    return await workflow_running(client, case_workflow_id(case_id))


async def live_view(client: Client, case_id: str) -> CaseView | None:
    """The case workflow's own view (see ``live_query``)."""
    return await live_query(client, case_workflow_id(case_id), CaseView)


async def case_view(
    client: Client, case_id: str, projected: Callable[[], Awaitable[CaseView | None]]
) -> tuple[CaseView, bool]:
    """``(view, live)`` of a case (see ``live_or_projected``)."""
    return await live_or_projected(
        client,
        case_workflow_id(case_id),
        CaseView,
        projected,
        subject=case_id,
        not_found=CaseNotFound,
    )


async def act(client: Client, case_id: str, update: Update, action: HumanAction) -> ActionOutcome:
    """Run one human action on a case (see ``run_update``)."""
    return await run_update(
        client,
        case_workflow_id(case_id),
        update,
        action,
        ActionOutcome,
        subject=case_id,
        ended=("case_ended", "the case has ended"),
        not_found=CaseNotFound,
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
    await act(client, action.target_case_id, Update.ADD_EVIDENCE, moved)
    return await act(client, case_id, Update.MERGE_INTO, action)
