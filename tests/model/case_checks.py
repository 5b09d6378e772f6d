"""The invariants the case walker checks after every step, and once every case has ended.

Each check reads the real thing (the workflow's query, its history, its search attributes,
the projection, the API) and compares it with the model or with another real thing; a
difference is a ``Failure`` whose signature names the invariant, so shrinking keeps
looking for the same defect.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client

from constants import SA_DEADLINE, SA_OVERDUE, SA_STATUS, case_workflow_id
from schemas.cases.views import CaseView
from services.platform.db import SessionFactory
from tests.model.case_model import CaseModel, ModelViolation
from tests.model.walker import Failure

# statuses in which a case may wait past its deadline without a timer: the overdue entry
# was recorded and a named party (the verifier, the linkage center) is asked to act
WAITS_WITHOUT_TIMER = ("resolved", "returned")


async def describe(client: Client, case_id: str) -> tuple[int, str, dict[str, Any]]:
    """(execution status, run id, search attributes decoded from their JSON payloads)."""
    return await describe_workflow(client, case_workflow_id(case_id))


async def describe_workflow(client: Client, workflow_id: str) -> tuple[int, str, dict[str, Any]]:
    """``describe`` for any workflow id."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    info = (
        await client.workflow_service.describe_workflow_execution(request)
    ).workflow_execution_info
    attributes: dict[str, Any] = {}
    for name, payload in info.search_attributes.indexed_fields.items():
        if not payload.data:  # an unset attribute
            continue
        try:
            attributes[name] = json.loads(payload.data)
        except ValueError:
            attributes[name] = payload.data.decode(errors="replace")
    return int(info.status), info.execution.run_id, attributes


RUNNING = int(WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING)
COMPLETED = int(WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED)


async def no_failed_tasks(client: Client, case_id: str) -> None:
    """No ``WorkflowTaskFailed`` in the case's history (its latest run), ever."""
    await history_ok(client, case_workflow_id(case_id))


async def history_ok(client: Client, workflow_id: str) -> None:
    """No ``WorkflowTaskFailed`` in the workflow's history."""
    case_id = workflow_id
    handle = client.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            cause = event.workflow_task_failed_event_attributes.failure.message
            raise Failure("workflow_task_failed", f"{case_id}: event {event.event_id}: {cause}")


def fold(model: CaseModel, view: CaseView, folded: int) -> int:
    """Fold the entries the model has not seen yet; the number folded so far."""
    try:
        model.apply_all(view.timeline[folded:])
    except ModelViolation as violation:
        raise Failure(f"timeline:{violation.kind}", str(violation)) from violation
    return len(view.timeline)


def same_as_model(model: CaseModel, view: CaseView) -> None:
    if (view.status, view.handler, view.department) != (
        model.status,
        model.handler,
        model.department,
    ):
        raise Failure(
            "state",
            f"{view.case_id}: workflow says {view.status}/{view.handler}/{view.department}, "
            f"model {model.status}/{model.handler}/{model.department}",
        )


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("live", "links")}


def api_equals_query(detail: dict[str, Any], view: CaseView) -> None:
    """``GET /cases/{id}`` is the live query while the case runs."""
    if not detail.get("live"):
        raise Failure("api_view", f"{view.case_id}: GET answered from the projection")
    if comparable(detail) != view.model_dump(mode="json"):
        raise Failure("api_view", f"{view.case_id}: GET differs from the live query")


def attributes_agree(view: CaseView, attributes: dict[str, Any]) -> None:
    """Search attributes: status, overdue and due time as the case says."""
    status = attributes.get(SA_STATUS.name)
    overdue = attributes.get(SA_OVERDUE.name)
    if status != view.status or bool(overdue) != view.overdue:
        raise Failure(
            "search_attributes",
            f"{view.case_id}: status {status}/{view.status}, overdue {overdue}/{view.overdue}",
        )
    due = attributes.get(SA_DEADLINE.name)
    open_due = view.deadline if view.status not in ("closed", "cancelled") else None
    if (due is None) != (open_due is None):
        raise Failure("search_attributes", f"{view.case_id}: deadline {due} vs {open_due}")
    if (
        due is not None
        and open_due is not None
        and abs(datetime.fromisoformat(str(due)) - open_due) > timedelta(seconds=1)
    ):
        raise Failure("search_attributes", f"{view.case_id}: deadline {due} vs {open_due}")


async def projection_agrees(
    sessions: SessionFactory, view: CaseView, at_rest_fields: bool, lag_excused: bool = False
) -> None:
    """The projected timeline is the workflow's; the projected row its summary at rest.

    ``lag_excused``: the known defect D1 (``pending.Rules.confirm_keeps_rest``) is expected.
    """
    first = view.timeline[0].seq if view.timeline else 1
    async with sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT seq, kind, status, actor_role, actor_id FROM case_event "
                    "WHERE case_id = :c AND seq >= :s ORDER BY seq"
                ),
                {"c": view.case_id, "s": first},
            )
        ).all()
        record = (
            await session.execute(
                text(
                    "SELECT status, waiting_for, deadline, overdue, last_seq, handler, department "
                    "FROM case_record WHERE case_id = :c"
                ),
                {"c": view.case_id},
            )
        ).one_or_none()
    projected = [tuple(r) for r in rows]
    own = [
        (
            e.seq,
            e.kind,
            e.status,
            e.actor.role if e.actor else None,
            e.actor.id if e.actor else None,
        )
        for e in view.timeline
    ]
    if lag_excused and projected == own[: len(projected)]:
        return
    if projected != own:
        raise Failure("projection_timeline", f"{view.case_id}: {projected[-3:]} vs {own[-3:]}")
    if record is None:
        raise Failure("projection_row", f"{view.case_id}: no case_record row")
    status, waiting_for, deadline, overdue, _, handler, department = record
    if (status, handler, department) != (view.status, view.handler, view.department):
        raise Failure("projection_row", f"{view.case_id}: row {status} vs {view.status}")
    if at_rest_fields:
        if isinstance(deadline, str):
            deadline = datetime.fromisoformat(deadline)
        if deadline is not None and deadline.tzinfo is None and view.deadline is not None:
            deadline = deadline.replace(tzinfo=view.deadline.tzinfo)
        if (waiting_for, deadline, bool(overdue)) != (
            view.waiting_for,
            view.deadline,
            view.overdue,
        ):
            raise Failure(
                "projection_at_rest",
                f"{view.case_id}: row waits for {waiting_for!r} until {deadline}, "
                f"case for {view.waiting_for!r} until {view.deadline}",
            )


def waits_on_someone(model: CaseModel, view: CaseView, now: datetime) -> None:
    """Every open case has a running timer or waits for a named party; never on nothing."""
    if not view.waiting_for or view.waiting_for == "filing":
        raise Failure("waits_on_nothing", f"{view.case_id}: waiting for {view.waiting_for!r}")
    if (view.deadline is not None) != model.has_deadline:
        raise Failure(
            "deadline_presence",
            f"{view.case_id}: deadline {view.deadline} in {view.status} "
            f"(head escalated: {model.head_escalated})",
        )
    if view.deadline is None:
        if "department" not in view.waiting_for:
            raise Failure("waits_on_nothing", f"{view.case_id}: no deadline, {view.waiting_for}")
        return
    if view.deadline <= now and not (view.overdue and view.status in WAITS_WITHOUT_TIMER):
        raise Failure(
            "stalled",
            f"{view.case_id}: {view.status}, deadline {view.deadline} passed at {now} "
            f"with nothing fired (waiting for {view.waiting_for})",
        )


async def messages_of(sessions: SessionFactory, case_id: str) -> set[tuple[str, str]]:
    async with sessions() as session:
        rows = (
            await session.execute(
                text("SELECT kind, recipient FROM notification WHERE case_id = :c"), {"c": case_id}
            )
        ).all()
    return {(str(kind), str(recipient)) for kind, recipient in rows}
