"""Starting inspections and campaigns and acting on them through Temporal.

The API's only way into the inspection workflows, as ``services.cases.operations`` is for cases:
idempotent ids, the workflows' search attributes at start, and Temporal's errors turned
into the service's own (``CaseNotFound`` -> 404, ``ActionRefused`` -> 409,
``WorkflowUnavailable`` -> 503).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from constants import (
    SA_CASE_TYPE,
    SA_GRID,
    SA_KIND,
    SA_PRIORITY,
    SA_SOURCE,
    SA_STATUS,
    WF_CAMPAIGN,
    WF_INSPECTION,
    campaign_workflow_id,
    inspection_workflow_id,
    rectification_workflow_id,
)
from schemas.inspections.campaign import CampaignInput, CampaignProgress
from schemas.inspections.checklists import RISK_PRIORITY
from schemas.inspections.rectification import RectificationView
from schemas.inspections.tables import Enterprise
from schemas.inspections.workflow import InspectionView, StartInspection
from schemas.platform.common import Actor, HumanAction
from schemas.platform.updates import Update
from services.cases.filing import IntakeError
from services.inspections.queries import completed_round_closings
from services.platform import requests
from services.platform.db import SessionFactory
from services.temporal_gateway import (
    NotFound,
    WorkflowUnavailable,
    live_or_projected,
    query_workflow,
    run_update,
    start_once,
    workflow_running,
)

ID_NAMESPACE = uuid.UUID("0b6d7c1e-5a43-4c0e-9d55-7f3e2b8a9c10")
R = TypeVar("R", bound=BaseModel)


class InspectionNotFound(NotFound):
    """No inspection, rectification or round by this id, live or projected (HTTP 404)."""

    kind = "inspection"


def new_tag(actor: Actor, idempotency_key: str | None, *parts: str) -> str:
    """A short id part: fresh, or the same for the same caller, key and subject."""
    if idempotency_key:
        value = uuid.uuid5(ID_NAMESPACE, ":".join((actor.role, actor.id, idempotency_key, *parts)))
    else:
        value = uuid.uuid4()
    return value.hex[:10].upper()


async def start_inspection(
    client: Client,
    sessions: SessionFactory,
    enterprise_id: str,
    actor: Actor,
    idempotency_key: str | None,
    reason: str,
    task_queue: str,
) -> tuple[str, bool]:
    """Start a joint inspection of one enterprise; ``(inspection_id, created)``.

    The same key with another reason is refused (``services.platform.requests``)."""
    async with sessions() as session:
        enterprise = await session.get(Enterprise, enterprise_id)
    if enterprise is None or not enterprise.active:
        raise IntakeError("enterprise_id", f"no active enterprise {enterprise_id!r}")
    inspection_id = f"JI-{enterprise_id}-{new_tag(actor, idempotency_key, enterprise_id)}"
    inp = StartInspection(
        inspection_id=inspection_id,
        enterprise_id=enterprise_id,
        requested_by=actor,
        requested_at=datetime.now(UTC),
        reason=reason,
    )
    created = await start_inspection_workflow(
        client,
        inp,
        task_queue,
        grid_id=enterprise.grid_id,
        risk_level=enterprise.risk_level,
        source="manual",
        summary=f"Joint inspection of {enterprise.id} {enterprise.name}",
        request=requests.request_fingerprint(enterprise_id, reason) if idempotency_key else None,
    )
    return inspection_id, created


async def start_inspection_workflow(
    client: Client,
    inp: StartInspection,
    task_queue: str,
    *,
    grid_id: str,
    risk_level: str,
    source: str,
    summary: str,
    request: str | None = None,
) -> bool:
    """Start one inspection workflow with its search attributes; False if it exists already
    (``ActionRefused`` if it was started by another request: ``services.platform.requests``)."""
    attributes: list[SearchAttributePair[Any]] = [
        SearchAttributePair(SA_KIND, "inspection"),
        SearchAttributePair(SA_CASE_TYPE, "joint_inspection"),
        SearchAttributePair(SA_STATUS, "preparing"),
        SearchAttributePair(SA_GRID, grid_id),
        SearchAttributePair(SA_PRIORITY, RISK_PRIORITY.get(risk_level, 3)),
        SearchAttributePair(SA_SOURCE, source),
    ]
    return await start_once(
        client,
        WF_INSPECTION,
        inp,
        workflow_id=inspection_workflow_id(inp.inspection_id),
        task_queue=task_queue,
        request=request,
        search_attributes=TypedSearchAttributes(attributes),
        static_summary=summary[:200],
        static_details=f"Requested by {inp.requested_by.role} {inp.requested_by.id}. {inp.reason}",
    )


async def inspection_view(
    client: Client, inspection_id: str, projected: Callable[[], Awaitable[InspectionView | None]]
) -> tuple[InspectionView, bool]:
    """``(view, live)``: live while it runs and a worker answers, else the projection."""
    workflow_id = inspection_workflow_id(inspection_id)
    return await live_or_projected(
        client,
        workflow_id,
        InspectionView,
        projected,
        subject=inspection_id,
        not_found=InspectionNotFound,
    )


async def rectification_view(
    client: Client,
    rectification_id: str,
    projected: Callable[[], Awaitable[RectificationView | None]],
) -> tuple[RectificationView, bool]:
    """``(view, live)``: live while it runs and a worker answers, else the projection."""
    workflow_id = rectification_workflow_id(rectification_id)
    return await live_or_projected(
        client,
        workflow_id,
        RectificationView,
        projected,
        subject=rectification_id,
        not_found=InspectionNotFound,
    )


async def act(
    client: Client, workflow_id: str, update: Update, action: HumanAction, result_type: type[R]
) -> R:
    """One human action on an inspection, rectification or campaign (``run_update``).

    An ended workflow refuses with the same code its validator gives while it is still
    draining (``inspection_ended``, ``rectification_ended``): one condition, one code.
    """
    kind = workflow_id.split("-", 1)[0]
    code = f"{kind}_ended" if kind in ("inspection", "rectification") else "ended"
    return await run_update(
        client,
        workflow_id,
        update,
        action,
        result_type,
        subject=workflow_id,
        ended=(code, f"this {kind} has ended"),
        not_found=InspectionNotFound,
    )


# ---- campaigns ---------------------------------------------------------------------------
async def start_campaign(
    client: Client, inp: CampaignInput, task_queue: str, request: str | None = None
) -> tuple[str, bool]:
    """Start a round by hand; ``(workflow_id, created)`` (an id already used is not re-run;
    used by another request, ``request`` the fingerprint, it is a 409)."""
    assert inp.campaign_id is not None
    workflow_id = campaign_workflow_id(inp.campaign_id)
    created = await start_once(
        client,
        WF_CAMPAIGN,
        inp,
        workflow_id=workflow_id,
        task_queue=task_queue,
        request=request,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(SA_KIND, "campaign"),
                SearchAttributePair(SA_STATUS, "planning"),
            ]
        ),
        static_summary=f"Inspection round {inp.campaign_id}: {inp.name}"[:200],
    )
    return workflow_id, created


async def campaign_progress(
    client: Client, session: AsyncSession, campaign_id: str
) -> CampaignProgress:
    """The round's progress, a query (it works on a finished round too, replayed by a worker).

    A completed round's closed hazards come from the projection (issue 13, C1). With no
    worker answering within ``QUERY_TIMEOUT`` this is ``WorkflowUnavailable`` (503), whose
    reason points at the round's report, read from the database.
    """
    workflow_id = campaign_workflow_id(campaign_id)
    try:
        running = await workflow_running(client, workflow_id)
    except RPCError as error:
        raise WorkflowUnavailable(
            campaign_id, f"Temporal did not answer ({error.status.name})"
        ) from error
    if running is None:
        raise InspectionNotFound(campaign_id)
    try:
        progress = await query_workflow(
            client,
            workflow_id,
            "progress",
            CampaignProgress,
            subject=campaign_id,
            not_found=InspectionNotFound,
        )
    except WorkflowUnavailable as unavailable:
        report = f"/reports/inspections/rounds/{campaign_id}"
        raise WorkflowUnavailable(
            campaign_id, f"{unavailable.reason}; the database's view of the round: {report}"
        ) from unavailable
    return await completed_round_closings(session, progress)


async def create_campaign_schedule(
    client: Client,
    schedule_id: str,
    template: CampaignInput,
    task_queue: str,
    *,
    cron: str | None = None,
    every: timedelta | None = None,
) -> ScheduleHandle:
    """A Temporal schedule that starts a round (e.g. quarterly: ``cron="0 1 1 */3 *"``).

    Each run gets its own campaign id from its start time (``R202612010100``), so rounds
    never collide. Overlapping rounds are allowed: a round stays open, ``rectifying``, until
    the hazards it found are closed (patch ``campaign-v2``), which may take longer than the
    interval, and must not hold back the next round (docs/campaigns.md).
    """
    if (cron is None) == (every is None):
        raise ValueError("give exactly one of cron or every")
    spec = (
        ScheduleSpec(cron_expressions=[cron])
        if cron
        else ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every or timedelta(days=90))])
    )
    action = ScheduleActionStartWorkflow(
        WF_CAMPAIGN,
        template.model_copy(update={"campaign_id": None, "carry": None}),
        id=f"campaign-{schedule_id}",
        task_queue=task_queue,
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(SA_KIND, "campaign")]),
    )
    return await client.create_schedule(
        schedule_id,
        Schedule(
            action=action,
            spec=spec,
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        ),
    )
