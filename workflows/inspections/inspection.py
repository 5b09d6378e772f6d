"""``JointInspectionWorkflow``: one visit for every department, rectification to the end.

The form merges the checklists of the five departments that apply to the enterprise, plus
the findings its own safety records gave; one qualified inspector of the grid is booked
(an activity picks them and a slot in their calendar); the workflow waits for the visit
with a reminder before it and a deadline after it (overdue -> another inspector); results
arrive item by item as updates that only the booked inspector may send; a critical hazard
reaches its department at once. When the visit is over each department gets its own
section, and every hazard becomes a ``RectificationWorkflow`` child that the inspection
follows until it is closed. All I/O happens in activities named in ``constants``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle

from workflows.inspections.inspection_base import PATCH_INSPECTION_V3, InspectionBase
from workflows.kit.calls import call
from workflows.kit.updates import answering
from workflows.kit.waiting import fixed

with workflow.unsafe.imports_passed_through():
    from constants import (
        ACT_PREPARE_INSPECTION,
        ACT_RECORD_FINDINGS,
        ACT_SEND_SECTIONS,
        WF_INSPECTION,
    )
    from schemas.inspections.activity import (
        InspectionPlan,
        PrepareRequest,
        RecordFinding,
        RecordFindingsRequest,
        SectionBatch,
    )
    from schemas.inspections.rectification import RectificationResult
    from schemas.inspections.workflow import (
        CancelInspection,
        FinishVisit,
        InspectionOutcome,
        InspectionResult,
        InspectionView,
        ItemState,
        RecordResults,
        StartInspection,
        StartVisit,
    )
    from schemas.platform.common import town_time
    from schemas.platform.updates import Update


inspection_update = answering(InspectionOutcome)


@workflow.defn(name=WF_INSPECTION)
class JointInspectionWorkflow(InspectionBase):
    """Durable handling of one joint inspection; see the module docstring."""

    @workflow.init
    def __init__(self, inp: StartInspection) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: StartInspection) -> InspectionResult:
        s = self.state
        self.projector.start(self.lanes)
        self.emit("requested", actor=inp.requested_by, note=inp.reason or None)
        if await self._build_form() and await self._visit_stage():
            children = await self._report()
            await self._follow(children)
            self.emit("closed", status="closed", data={"hazards": str(len(s.hazards()))})
        else:
            await self.signal_campaign(self.progress("cancelled"))
        await self.lanes.drain()
        return InspectionResult(
            inspection_id=inp.inspection_id,
            status="closed" if s.status == "closed" else "cancelled",
            hazards=len(s.hazards()),
            hazards_closed=s.hazards_closed,
            ended_at=workflow.now(),
        )

    # ---- stages --------------------------------------------------------------------
    async def _build_form(self) -> bool:
        """The merged form, with the records' findings; False if there is no enterprise."""
        s, inp = self.state, self.state.inp
        findings: list[RecordFinding] = await call(
            ACT_RECORD_FINDINGS,
            RecordFindingsRequest(
                inspection_id=inp.inspection_id,
                enterprise_id=inp.enterprise_id,
                until=workflow.now(),
            ),
            list[RecordFinding],
        )
        try:
            plan: InspectionPlan = await call(
                ACT_PREPARE_INSPECTION,
                PrepareRequest(
                    inspection_id=inp.inspection_id,
                    enterprise_id=inp.enterprise_id,
                    with_findings=[f.item_code for f in findings],
                ),
                InspectionPlan,
            )
        except ActivityError as error:
            # Gone from the registry (closed down) since the round was planned: nothing to
            # visit. Ending as cancelled, rather than failing, lets the campaign go on.
            cause = error.cause
            if not isinstance(cause, ApplicationError) or cause.type != "unknown_enterprise":
                raise
            if not self._cancelled_meanwhile():
                self.emit("cancelled", status="cancelled", note=cause.message)
            return False
        if self._cancelled_meanwhile():
            return False
        s.set_plan(plan, findings, workflow.now())
        self.emit(
            "form_built",
            data={
                "items": str(len(plan.items)),
                "departments": ",".join(plan.departments),
                "record_findings": str(len(findings)),
                "checklists": plan.checklist_version,
            },
        )
        return True

    def _cancelled_meanwhile(self) -> bool:
        """Cancelled while the form was being built: nothing more to record (I2)."""
        return not self.state.is_open and workflow.patched(PATCH_INSPECTION_V3)

    async def _visit_stage(self) -> bool:
        """Book an inspector and wait for the visit; True once it is over, False if cancelled."""
        s = self.state
        plan = s.plan
        assert plan is not None
        while s.is_open:
            booking = await self.book()
            if not s.is_open:
                await self.release(free_slot=True)
                break
            if booking is None:
                retry_at = workflow.now() + plan.visit.unassigned_retry
                first = s.status != "unassigned"
                s.deadline = None
                self.emit("no_inspector", status="unassigned", data={"attempt": str(s.attempts)})
                self.waiting("a qualified inspector to be free")
                if first:  # the center hears of it once, not at every retry
                    self.tell("center", "linkage_center", "inspection_unassigned")
                await self.waiter.wait_until(lambda: not s.is_open, fixed(retry_at))
                continue
            s.deadline, s.overdue = booking.visit_end + plan.visit.results_grace, False
            self.emit(
                "scheduled",
                status="scheduled",
                data={
                    "inspector": booking.inspector_id,
                    "visit_at": booking.visit_at.isoformat(),
                    "tier": str(booking.tier),
                    "attempt": str(booking.attempt),
                },
            )
            self.waiting(f"inspector {booking.inspector_id} to visit")
            when = town_time(booking.visit_at, plan.visit.utc_offset_hours)
            self.tell("inspector", booking.inspector_id, "inspection_assigned", visit_at=when)
            self.tell("enterprise", s.inp.enterprise_id, "visit_scheduled", visit_at=when)
            remind_at = booking.visit_at - plan.visit.reminder_before
            reminders = [(remind_at, self._remind)] if remind_at > workflow.now() else []
            done = await self.waiter.wait_until(
                lambda: s.finish_requested or not s.is_open, lambda: s.deadline, reminders
            )
            if not done:
                s.overdue = True
                self.emit("visit_overdue", data={"inspector": booking.inspector_id})
                self.tell("center", "linkage_center", "visit_overdue")
                if s.status == "scheduled" and s.attempts <= plan.visit.max_reassignments:
                    self.tell("inspector", booking.inspector_id, "visit_withdrawn")
                    s.excluded.append(booking.inspector_id)
                    await self.release(free_slot=True)
                    continue
                s.deadline = None
                self.waiting(f"inspector {booking.inspector_id} to finish the overdue visit")
                await workflow.wait_condition(lambda: s.finish_requested or not s.is_open)
            await self.release(free_slot=not s.finish_requested)
            return s.finish_requested
        return False

    def _remind(self) -> None:
        booking = self.state.booking
        if booking is not None and self.state.status == "scheduled":
            self.emit("visit_reminder", data={"inspector": booking.inspector_id})
            self.tell("inspector", booking.inspector_id, "visit_reminder")

    async def _report(self) -> list[tuple[ItemState, ChildWorkflowHandle[Any, Any]]]:
        """Each department its own section; each hazard its own rectification."""
        s = self.state
        plan, booking = s.plan, s.booking
        assert plan is not None and booking is not None and s.visit_finished_at is not None
        hazards = s.hazards()
        children = [
            (slot, await self.start_rectification(slot, n)) for n, slot in enumerate(hazards, 1)
        ]
        sections = SectionBatch(sections=self.department_sections())
        self.lanes.put("departments", ACT_SEND_SECTIONS, sections)
        self.emit("sections_sent", data={"departments": ",".join(plan.departments)})
        self.waiting(f"rectification of {len(hazards)} hazard(s)")
        await self.signal_campaign(self.progress("visited"))
        return children

    async def _follow(
        self, children: list[tuple[ItemState, ChildWorkflowHandle[Any, Any]]]
    ) -> None:
        s = self.state

        async def follow(slot: ItemState, handle: ChildWorkflowHandle[Any, Any]) -> None:
            try:
                result: RectificationResult = await handle
                slot.rectification_status = result.status
                data = {"escalated": str(result.escalated), "rework": str(result.rework_count)}
            except ChildWorkflowError as error:
                slot.rectification_status = "ended"
                data = {"error": str(error)[:200]}
            s.hazards_closed += 1
            self.emit("hazard_closed", data={"rectification": slot.rectification_id or "", **data})
            self.waiting(f"rectification of {len(children) - s.hazards_closed} hazard(s)")
            await self.signal_campaign(self.progress("hazard_closed"))

        await asyncio.gather(*(follow(slot, handle) for slot, handle in children))

    # ---- the inspector's actions ---------------------------------------------------
    @inspection_update(Update.START_VISIT, rule=lambda wf, a: wf.state.check_start(a.actor))
    def start_visit(self, action: StartVisit) -> str:
        s = self.state
        s.visit_started_at = workflow.now()
        where = action.location
        data = {"lat": str(where.lat), "lon": str(where.lon)} if where else {}
        self.emit("visit_started", status="visiting", actor=action.actor, data=data)
        self.waiting(f"results of {len(s.items)} items")
        return "visit started"

    @inspection_update(Update.RECORD_RESULTS, rule=lambda wf, a: wf.state.check_results(a))
    def record_results(self, action: RecordResults) -> str:
        s = self.state
        critical = s.apply_results(action, workflow.now())
        hazards = [r.item_code for r in action.items if r.outcome == "hazard"]
        self.emit(
            "results_recorded",
            actor=action.actor,
            data={"items": str(len(action.items)), "hazards": ",".join(hazards)[:500]},
        )
        for slot in critical:
            self.tell(
                "department",
                slot.item.department,
                "critical_hazard",
                tag=slot.item.code,
                item=f"{slot.item.text_zh}（{slot.item.code}）",
                answer=slot.answer or "",
                note=slot.note or "",
            )
        summary = s.summary()
        return f"{summary.items_answered}/{summary.items_total} answered, {summary.hazards} hazards"

    @inspection_update(Update.FINISH_VISIT, rule=lambda wf, a: wf.state.check_finish(a.actor))
    def finish_visit(self, action: FinishVisit) -> str:
        s = self.state
        s.finish_requested, s.visit_finished_at = True, workflow.now()
        s.deadline, s.overdue = None, False
        hazards = s.hazards()
        self.emit(
            "visited",
            status="reported",
            actor=action.actor,
            note=action.note,
            data={"hazards": str(len(hazards))},
        )
        return f"visit recorded; {len(hazards)} hazard(s) go to rectification"

    # ---- the linkage center --------------------------------------------------------
    @inspection_update(Update.CANCEL, rule=lambda wf, a: wf.state.check_cancel(a.actor))
    def cancel(self, action: CancelInspection) -> str:
        self.state.deadline = None
        self.emit("cancelled", status="cancelled", actor=action.actor, note=action.reason)
        self.waiter.moved()
        return "cancelled"

    @workflow.query
    def view(self) -> InspectionView:
        return self.state.view()
