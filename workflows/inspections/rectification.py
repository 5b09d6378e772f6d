"""``RectificationWorkflow``: one hazard from the visit that found it until it is closed.

The deadline comes from the severity (policy snapshot in the input). The enterprise is
reminded before it and submits proof through its own endpoint; an inspector (or the
department) re-inspects: pass closes, fail sends it back with a new deadline (rework). A
hazard still open at its deadline goes to the department for enforcement and stays open,
flagged overdue, until a re-inspection passes: nothing ends a hazard but closure, or a
supervisor's cancellation of one recorded in error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow

from workflows.inspections.rectification_base import RectificationBase
from workflows.kit.ledger import ActionRejected
from workflows.kit.updates import answering

with workflow.unsafe.imports_passed_through():
    from constants import WF_RECTIFICATION
    from schemas.inspections.rectification import (
        CancelRectification,
        RecordEnforcement,
        RectificationInput,
        RectificationOutcome,
        RectificationResult,
        RectificationView,
        Reinspect,
        SubmitProof,
    )
    from schemas.inspections.workflow import INSPECTOR_ROLE
    from schemas.platform.updates import Update


rectification_update = answering(RectificationOutcome)


@workflow.defn(name=WF_RECTIFICATION)
class RectificationWorkflow(RectificationBase):
    """Durable rectification of one hazard; see the module docstring."""

    @workflow.init
    def __init__(self, inp: RectificationInput) -> None:
        super().__init__(inp)

    # ---- the loop ------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: RectificationInput) -> RectificationResult:
        self.projector.start(self.lanes)
        self.emit("opened", actor=inp.found_by, note=inp.note, data={"answer": inp.answer})
        self.tell("enterprise", inp.enterprise.id, "rectification_notice")
        while self.is_open:
            if self.status == "proof_submitted":
                await self._reinspection_stage()
            else:
                await self._rectifying_stage()
        await self.lanes.drain()
        return RectificationResult(
            rectification_id=inp.rectification_id,
            status="closed" if self.status == "closed" else "cancelled",
            escalated=self.escalated,
            rework_count=self.rework,
            ended_at=workflow.now(),
        )

    async def _rectifying_stage(self) -> None:
        """Wait for proof; at the deadline the department takes over (enforcement)."""
        reminders: list[tuple[datetime, Callable[[], None]]] = []
        if self.deadline is not None and self.status == "rectifying":
            span = self.deadline - workflow.now()
            warn_at = self.deadline - span * (1 - self.inp.policy.warn_fraction)
            reminders.append((warn_at, self._remind))
        proof_seen = self.proofs
        done = await self.waiter.wait_until(
            lambda: self.proofs > proof_seen or not self.is_open, lambda: self.deadline, reminders
        )
        if done:
            return
        self.overdue, self.deadline = True, None
        department = self.inp.item.department
        if not self.escalated:
            self.escalated = True
            self.emit("escalated", status="escalated", data={"department": department})
            self.tell("department", department, "enforcement")
        else:
            self.emit("enforcement_overdue", data={"department": department})
            self.tell("department", department, "enforcement_overdue")
        self.waiting(f"department {department} to enforce; proof still accepted")

    async def _reinspection_stage(self) -> None:
        done = await self.waiter.wait_until(
            lambda: self.verdict is not None or not self.is_open, lambda: self.deadline
        )
        if not done:
            self.overdue, self.deadline = True, None
            self.emit("reinspection_overdue")
            self.tell("department", self.inp.item.department, "reinspection_overdue")
            await workflow.wait_condition(lambda: self.verdict is not None or not self.is_open)
        if not self.is_open or self.verdict is None:
            return
        if self.verdict:
            self.closed_at = workflow.now()
            self.emit("closed", status="closed", data={"rework": str(self.rework)})
            self.tell("enterprise", self.inp.enterprise.id, "rectification_closed")
            return
        self.verdict, self.rework = None, self.rework + 1
        span = self.inp.policy.deadlines[self.inp.severity]
        self.deadline, self.overdue = workflow.now() + span, False
        self.emit("rework", status="rectifying", data={"rework": str(self.rework)})
        self.waiting("the enterprise to rectify again and submit new proof")
        self.tell("enterprise", self.inp.enterprise.id, "rectification_rework")

    def _remind(self) -> None:
        if self.status == "rectifying":
            self.emit("deadline_warning")
            self.tell("enterprise", self.inp.enterprise.id, "rectification_reminder")

    def _submit_proof_rule(self, action: SubmitProof) -> None:
        actor = action.actor
        if actor.role != "enterprise" or actor.id != self.inp.enterprise.id:
            raise ActionRejected("only the enterprise itself submits proof", "forbidden_role")
        if self.status == "proof_submitted":
            raise ActionRejected("proof is already waiting for re-inspection", "wrong_stage")

    @rectification_update(Update.SUBMIT_PROOF, rule=_submit_proof_rule)
    def submit_proof(self, action: SubmitProof) -> str:
        self.proofs += 1
        span = self.inp.policy.reinspection
        self.deadline, self.overdue = workflow.now() + span, False
        self.emit(
            "proof_submitted",
            status="proof_submitted",
            actor=action.actor,
            note=action.note,
            evidence=list(action.evidence),
        )
        self.waiting("re-inspection by an inspector or the department")
        if self.inp.inspector_id:
            self.tell("inspector", self.inp.inspector_id, "reinspection_due")
        self.tell("department", self.inp.item.department, "proof_received")
        self.waiter.moved()
        return "proof received; waiting for re-inspection"

    def _reinspect_rule(self, action: Reinspect) -> None:
        actor, inp = action.actor, self.inp
        department = actor.role == "department" and actor.id == inp.item.department
        inspector = actor.role == INSPECTOR_ROLE and (
            actor.id == inp.inspector_id or action.inspector_grid == inp.enterprise.grid_id
        )
        if not (department or inspector):
            raise ActionRejected(
                f"only the booked inspector, an inspector of grid {inp.enterprise.grid_id} "
                f"or department {inp.item.department} re-inspects",
                "forbidden_role",
            )
        if self.status != "proof_submitted":
            raise ActionRejected("nothing to re-inspect: no proof submitted", "wrong_stage")

    @rectification_update(Update.REINSPECT, rule=_reinspect_rule)
    def reinspect(self, action: Reinspect) -> str:
        self.verdict = action.passed
        kind = "reinspection_passed" if action.passed else "reinspection_failed"
        self.emit(kind, actor=action.actor, note=action.note, evidence=list(action.evidence))
        return "closing" if action.passed else "sent back for rework"

    def _record_enforcement_rule(self, action: RecordEnforcement) -> None:
        actor = action.actor
        if actor.role != "department" or actor.id != self.inp.item.department:
            raise ActionRejected("only the responsible department enforces", "forbidden_role")
        # enforcement follows an escalation: the first one, or a reworked hazard of an
        # escalated one overdue again (``enforcement_overdue`` asks the department for it).
        # A validator only: nothing changes for histories already recorded.
        again = self.escalated and self.overdue and self.status == "rectifying"
        if self.status != "escalated" and not again:
            raise ActionRejected("enforcement follows an escalation", "wrong_stage")

    @rectification_update(Update.RECORD_ENFORCEMENT, rule=_record_enforcement_rule)
    def record_enforcement(self, action: RecordEnforcement) -> str:
        data: dict[str, str] = {"measure": str(action.measure)}
        if action.extra is not None:
            self.deadline = workflow.now() + action.extra
            data["until"] = self.deadline.isoformat()
            self.waiter.moved()
        self.emit("enforcement", actor=action.actor, note=action.note, data=data)
        return f"{action.measure} recorded"

    def _cancel_rule(self, action: CancelRectification) -> None:
        if action.actor.role != "supervisor":
            raise ActionRejected("only the linkage center cancels a hazard", "forbidden_role")

    @rectification_update(Update.CANCEL, rule=_cancel_rule)
    def cancel(self, action: CancelRectification) -> str:
        self.deadline = None
        self.emit("cancelled", status="cancelled", actor=action.actor, note=action.reason)
        self.waiter.moved()
        return "cancelled"

    @workflow.query
    def view(self) -> RectificationView:
        return RectificationView(**self.summary().model_dump(), timeline=list(self.timeline))
