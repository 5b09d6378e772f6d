"""The plumbing of ``JointInspectionWorkflow``: timeline, visibility, messages, children.

Split from ``inspection.py`` so that the loop there reads as the visit and nothing else,
as ``workflows.cases.base`` is for ``case``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes
from temporalio.exceptions import FailureError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

from workflows.inspections.inspection_state import InspectionState
from workflows.kit.calls import call
from workflows.kit.lanes import Lanes
from workflows.kit.ledger import Ledger
from workflows.kit.projection import Projector
from workflows.kit.waiting import Waiter

with workflow.unsafe.imports_passed_through():
    from constants import (
        ACT_BOOK_INSPECTOR,
        ACT_NOTIFY_PARTY,
        ACT_PROJECT_INSPECTION,
        ACT_RELEASE_INSPECTOR,
        SA_CASE_TYPE,
        SA_DEADLINE,
        SA_DEPARTMENT,
        SA_GRID,
        SA_KIND,
        SA_OVERDUE,
        SA_PRIORITY,
        SA_SOURCE,
        SA_STATUS,
        SA_STEWARD,
        rectification_workflow_id,
    )
    from schemas.inspections.activity import (
        Booking,
        BookingRequest,
        DepartmentSection,
        InspectionProjection,
        InspectorRelease,
        PartyMessage,
    )
    from schemas.inspections.checklists import RISK_PRIORITY, SEVERITY_PRIORITY
    from schemas.inspections.rectification import RectificationInput, RectificationResult
    from schemas.inspections.workflow import (
        RECORDS,
        Channel,
        InspectionOutcome,
        InspectionProgress,
        InspectionStatus,
        ItemState,
        StartInspection,
    )
    from schemas.platform.common import Actor, HumanAction, town_time

# Projection writes of inspections and hazards wait a minute of local retries before a
# durable timer (cases wait 4 s): what their histories recorded.
PROJECTION_RETRY_THRESHOLD = timedelta(minutes=1)

# inspection-v3 (issue 13, found by the model walk): a released inspector is projected at
# once (I1), and nothing is recorded after a cancel that lands while the form is built (I2).
PATCH_INSPECTION_V3 = "inspection-v3"

A = TypeVar("A", bound=HumanAction)
ProgressStage = Literal["visited", "cancelled", "hazard_closed"]


class InspectionBase:
    """State, timeline, visibility and I/O helpers shared by the stages of an inspection."""

    def __init__(self, inp: StartInspection) -> None:
        self.state = InspectionState(inp, created_at=workflow.now())
        self.keys: Ledger[InspectionOutcome] = Ledger()  # per idempotency key: request, answer
        self.lanes = Lanes()
        self.waiter = Waiter()
        self.projector = Projector(
            ACT_PROJECT_INSPECTION,
            self._projection,
            local_retry_threshold=PROJECTION_RETRY_THRESHOLD,
        )
        self._visible: list[Any] | None = None

    # ---- timeline and visibility ---------------------------------------------------
    def emit(
        self,
        kind: str,
        *,
        status: InspectionStatus | None = None,
        actor: Actor | None = None,
        note: str | None = None,
        data: dict[str, str] | None = None,
    ) -> None:
        self.state.record(workflow.now(), kind, status=status, actor=actor, note=note, data=data)
        self.sync()

    def waiting(self, what: str) -> None:
        self.state.waiting_for = what
        self.sync()

    def sync(self) -> None:
        """Projection and Web UI in step with the inspection (attributes only on change)."""
        self.projector.touch()
        s = self.state
        summary = s.summary()
        values: list[Any] = [
            summary.status,
            summary.grid_id,
            summary.inspector_id,
            summary.deadline,
            summary.overdue,
            summary.items_answered,
            summary.hazards,
            summary.hazards_closed,
            s.waiting_for,
        ]
        if values == self._visible:
            return
        self._visible = values
        updates: list[SearchAttributeUpdate[Any]] = [
            SA_STATUS.value_set(summary.status),
            SA_OVERDUE.value_set(summary.overdue),
            SA_DEADLINE.value_set(summary.deadline)
            if summary.deadline and s.is_open
            else SA_DEADLINE.value_unset(),
            # GpSteward holds the person on the ground: for an inspection, its inspector.
            SA_STEWARD.value_set(summary.inspector_id)
            if summary.inspector_id
            else SA_STEWARD.value_unset(),
        ]
        if summary.grid_id:
            updates.append(SA_GRID.value_set(summary.grid_id))
        if summary.risk_level:
            updates.append(SA_PRIORITY.value_set(RISK_PRIORITY[summary.risk_level]))
        workflow.upsert_search_attributes(updates)
        visit = f", visit {town_time(summary.visit_at)}" if summary.visit_at else ""
        until = f" until {town_time(summary.deadline)}" if summary.deadline else ""
        workflow.set_current_details(
            f"**{summary.status}** · {summary.enterprise_id} {summary.enterprise_name} · "
            f"grid {summary.grid_id} · risk {summary.risk_level}\n\n"
            f"Inspector {summary.inspector_id or '-'}{visit}. "
            f"Items {summary.items_answered}/{summary.items_total}, hazards {summary.hazards} "
            f"({summary.critical} critical), rectified {summary.hazards_closed}.\n\n"
            f"Waiting for {s.waiting_for}{until}{' — OVERDUE' if summary.overdue else ''}."
            if s.is_open
            else f"**{summary.status}** after {len(s.timeline)} timeline entries; "
            f"hazards {summary.hazards}, rectified {summary.hazards_closed}."
        )

    def _projection(self) -> InspectionProjection:
        """Findings go out once the visit is over, and again only when they change."""
        s = self.state
        findings: list[ItemState] = []
        if s.visit_finished_at and s.findings_dirty:
            findings, s.findings_dirty = list(s.items.values()), False
        return InspectionProjection(summary=s.summary(), seq=len(s.timeline), findings=findings)

    # ---- human actions -------------------------------------------------------------
    def guard(self, action: HumanAction, rule: Callable[[], object]) -> None:
        """Validator body: an exact repeat passes, a reused key is refused (``Ledger``)."""
        self.keys.guard(action, rule)

    def act(self, action: A, apply: Callable[[A], str]) -> InspectionOutcome:
        return self.keys.act(action, lambda a: self.state.outcome(a.idempotency_key, apply(a)))

    # ---- messages ------------------------------------------------------------------
    def tell(
        self, channel: Channel, recipient: str, kind: str, tag: str = "", **context: str
    ) -> None:
        """Queue a message; its key (inspection, timeline position, kind, tag) is unique."""
        s = self.state
        plan = s.plan
        base = {
            "inspection_id": s.inp.inspection_id,
            "enterprise_id": s.inp.enterprise_id,
            "enterprise_name": plan.enterprise.name if plan else "",
            "grid_id": plan.enterprise.grid_id if plan else "",
        }
        message = PartyMessage(
            ref_id=s.inp.inspection_id,
            tag=tag,
            seq=len(s.timeline),
            channel=channel,
            recipient=recipient,
            kind=kind,
            context={**base, **context},
        )
        self.lanes.put(f"{channel}:{recipient}", ACT_NOTIFY_PARTY, message)

    async def signal_campaign(self, progress: InspectionProgress) -> None:
        """Tell the campaign (if any); a campaign that has already ended is not an error."""
        target = self.state.inp.campaign_workflow_id
        if not target:
            return
        try:
            await workflow.get_external_workflow_handle(target).signal(
                "inspection_progress", progress
            )
        except FailureError as error:
            workflow.logger.info("campaign %s not told (%s)", target, error)

    # ---- the inspector's calendar -------------------------------------------------
    async def book(self) -> Booking | None:
        s = self.state
        plan = s.plan
        assert plan is not None
        s.attempts += 1
        request = BookingRequest(
            inspection_id=s.inp.inspection_id,
            attempt=s.attempts,
            grid_id=plan.enterprise.grid_id,
            departments=list(plan.departments),
            earliest=workflow.now(),
            minutes=plan.visit_minutes,
            exclude=list(s.excluded),
            visit=plan.visit,
        )
        booking: Booking | None = await call(ACT_BOOK_INSPECTOR, request, Booking | None)
        s.booking = booking
        return booking

    async def release(self, free_slot: bool) -> None:
        booking = self.state.booking
        if booking is None:
            return
        if free_slot:
            self.state.booking = None
            if workflow.patched(PATCH_INSPECTION_V3):
                self.sync()  # the projection and GpSteward lose the inspector too (I1)
        request = InspectorRelease(
            inspection_id=self.state.inp.inspection_id,
            attempt=booking.attempt,
            inspector_id=booking.inspector_id,
            free_slot=free_slot,
        )
        await call(ACT_RELEASE_INSPECTOR, request)

    # ---- the departments and the campaign -----------------------------------------
    def department_sections(self) -> list[DepartmentSection]:
        """Each department's own part of the visit: its items, results and hazards."""
        s = self.state
        plan, booking = s.plan, s.booking
        assert plan is not None and booking is not None and s.visit_finished_at is not None
        sections = []
        for department in plan.departments:
            items = [slot for slot in s.items.values() if slot.item.department == department]
            found = [slot for slot in items if slot.outcome == "hazard"]
            sections.append(
                DepartmentSection(
                    inspection_id=s.inp.inspection_id,
                    department=department,
                    enterprise=plan.enterprise,
                    inspector_id=booking.inspector_id,
                    visited_at=s.visit_finished_at,
                    items=items,
                    hazards=len(found),
                    critical=sum(1 for slot in found if slot.severity == "critical"),
                )
            )
        return sections

    def progress(self, stage: ProgressStage) -> InspectionProgress:
        summary = self.state.summary()
        return InspectionProgress(
            inspection_id=summary.inspection_id,
            enterprise_id=summary.enterprise_id,
            stage=stage,
            hazards=summary.hazards,
            critical=summary.critical,
            departments=len(summary.departments),
            visit_started_at=summary.visit_started_at,
            visit_finished_at=summary.visit_finished_at,
            visit_minutes=summary.visit_minutes,
        )

    # ---- rectifications ------------------------------------------------------------
    async def start_rectification(
        self, slot: ItemState, number: int
    ) -> ChildWorkflowHandle[Any, RectificationResult]:
        s = self.state
        plan = s.plan
        assert plan is not None and slot.answer is not None and slot.severity is not None
        rid = f"{s.inp.inspection_id}-H{number:02d}"
        slot.rectification_id, slot.rectification_status = rid, "rectifying"
        s.findings_dirty = True
        inp = RectificationInput(
            rectification_id=rid,
            inspection_id=s.inp.inspection_id,
            enterprise=plan.enterprise,
            item=slot.item,
            answer=slot.answer,
            severity=slot.severity,
            note=slot.note,
            evidence=list(slot.evidence),
            found_at=slot.at or workflow.now(),
            found_by=slot.by or RECORDS,
            inspector_id=s.booking.inspector_id if s.booking else None,
            policy=plan.rectification,
        )
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(SA_KIND, "rectification"),
                SearchAttributePair(SA_CASE_TYPE, slot.item.code),
                SearchAttributePair(SA_STATUS, "rectifying"),
                SearchAttributePair(SA_GRID, plan.enterprise.grid_id),
                SearchAttributePair(SA_DEPARTMENT, slot.item.department),
                SearchAttributePair(SA_PRIORITY, SEVERITY_PRIORITY[slot.severity]),
                SearchAttributePair(SA_SOURCE, slot.source),
            ]
        )
        return await workflow.start_child_workflow(
            "RectificationWorkflow",
            inp,
            id=rectification_workflow_id(rid),
            result_type=RectificationResult,
            parent_close_policy=ParentClosePolicy.ABANDON,
            search_attributes=attributes,
            static_summary=(
                f"{slot.severity} hazard {slot.item.code}/{slot.answer} at "
                f"{plan.enterprise.id} {plan.enterprise.name}"
            )[:200],
            static_details=f"{slot.item.text_zh} / {slot.item.text_en}. {slot.note or ''}",
        )
