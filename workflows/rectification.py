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
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from workflows.case_state import ActionRejected
from workflows.inspection_ops import Lanes, Projector, Waiter, town_time

with workflow.unsafe.imports_passed_through():
    from constants import (
        ACT_NOTIFY_PARTY,
        ACT_PROJECT_RECTIFICATION,
        SA_DEADLINE,
        SA_OVERDUE,
        SA_REWORK,
        SA_STATUS,
    )
    from schemas.case import HumanAction
    from schemas.common import Actor
    from schemas.inspection_flow import INSPECTOR_ROLE, Channel, PartyMessage
    from schemas.rectification import (
        OPEN_RECTIFICATION,
        CancelRectification,
        RecordEnforcement,
        RectificationEvent,
        RectificationInput,
        RectificationOutcome,
        RectificationProjection,
        RectificationResult,
        RectificationStatus,
        RectificationSummary,
        RectificationView,
        Reinspect,
        SubmitProof,
    )

A = TypeVar("A", bound=HumanAction)


@workflow.defn(name="RectificationWorkflow")
class RectificationWorkflow:
    """Durable rectification of one hazard; see the module docstring."""

    @workflow.init
    def __init__(self, inp: RectificationInput) -> None:
        self.inp = inp
        self.status: RectificationStatus = "rectifying"
        self.deadline: datetime | None = inp.found_at + inp.policy.deadlines[inp.severity]
        self.overdue = False
        self.escalated = False
        self.rework = 0
        self.proofs = 0
        self.verdict: bool | None = None
        self.waiting_for = "the enterprise to rectify and submit proof"
        self.closed_at: datetime | None = None
        self.timeline: list[RectificationEvent] = []
        self.outcomes: dict[str, RectificationOutcome] = {}
        self.lanes = Lanes()
        self.waiter = Waiter()
        self.projector = Projector(ACT_PROJECT_RECTIFICATION, self._projection)
        self._visible: list[Any] | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_RECTIFICATION

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

    # ---- timeline, visibility, messages --------------------------------------------
    def emit(
        self,
        kind: str,
        *,
        status: RectificationStatus | None = None,
        actor: Actor | None = None,
        note: str | None = None,
        evidence: list[Any] | None = None,
        data: dict[str, str] | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        entry = RectificationEvent(
            seq=len(self.timeline) + 1,
            kind=kind,
            status=self.status,
            at=workflow.now(),
            actor=actor,
            note=note,
            evidence=list(evidence or []),
            data=dict(data or {}),
        )
        self.timeline.append(entry)
        self.sync()

    def waiting(self, what: str) -> None:
        self.waiting_for = what
        self.sync()

    def sync(self) -> None:
        self.projector.touch()
        s = self.summary()
        values: list[Any] = [s.status, s.deadline, s.overdue, s.rework_count, s.waiting_for]
        if values == self._visible:
            return
        self._visible = values
        updates: list[SearchAttributeUpdate[Any]] = [
            SA_STATUS.value_set(s.status),
            SA_OVERDUE.value_set(s.overdue),
            SA_REWORK.value_set(s.rework_count),
            SA_DEADLINE.value_set(s.deadline)
            if s.deadline and self.is_open
            else SA_DEADLINE.value_unset(),
        ]
        workflow.upsert_search_attributes(updates)
        until = f" until {town_time(s.deadline)}" if s.deadline else ""
        workflow.set_current_details(
            f"**{s.status}** · {s.severity} · {s.item_code}/{s.answer} · "
            f"{s.enterprise_id} {self.inp.enterprise.name} · grid {s.grid_id}\n\n"
            f"Waiting for {s.waiting_for}{until}{' — OVERDUE' if s.overdue else ''}. "
            f"Proofs {s.proof_count}, rework {s.rework_count}, escalated {s.escalated}."
            if self.is_open
            else f"**{s.status}** after {len(self.timeline)} entries; rework {s.rework_count}."
        )

    def tell(self, channel: Channel, recipient: str, kind: str) -> None:
        inp = self.inp
        context = {
            "rectification_id": inp.rectification_id,
            "inspection_id": inp.inspection_id,
            "enterprise_id": inp.enterprise.id,
            "enterprise_name": inp.enterprise.name,
            "item": f"{inp.item.text_zh}（{inp.item.code}）",
            "severity": inp.severity,
            "deadline": town_time(self.deadline),
        }
        message = PartyMessage(
            ref_id=inp.rectification_id,
            seq=len(self.timeline),
            channel=channel,
            recipient=recipient,
            kind=kind,
            context=context,
        )
        self.lanes.put(f"{channel}:{recipient}", ACT_NOTIFY_PARTY, message)

    def summary(self) -> RectificationSummary:
        inp = self.inp
        return RectificationSummary(
            rectification_id=inp.rectification_id,
            inspection_id=inp.inspection_id,
            enterprise_id=inp.enterprise.id,
            grid_id=inp.enterprise.grid_id,
            department=inp.item.department,
            item_code=inp.item.code,
            answer=inp.answer,
            severity=inp.severity,
            status=self.status,
            found_at=inp.found_at,
            deadline=self.deadline,
            overdue=self.overdue,
            escalated=self.escalated,
            rework_count=self.rework,
            proof_count=self.proofs,
            waiting_for=self.waiting_for,
            closed_at=self.closed_at,
        )

    def _projection(self) -> RectificationProjection:
        return RectificationProjection(summary=self.summary(), seq=len(self.timeline))

    # ---- actions -------------------------------------------------------------------
    def _guard(self, action: HumanAction, rule: Callable[[], object]) -> None:
        if action.idempotency_key in self.outcomes:
            return
        if not self.is_open:
            raise ActionRejected(f"rectification is {self.status}", "rectification_ended")
        rule()

    def _act(self, action: A, apply: Callable[[A], str]) -> RectificationOutcome:
        previous = self.outcomes.get(action.idempotency_key)
        if previous is not None:
            return previous
        message = apply(action)
        result = RectificationOutcome(
            rectification_id=self.inp.rectification_id,
            status=self.status,
            seq=len(self.timeline),
            message=message,
        )
        self.outcomes[action.idempotency_key] = result
        return result

    @workflow.update
    def submit_proof(self, action: SubmitProof) -> RectificationOutcome:
        return self._act(action, self._proof)

    @submit_proof.validator
    def _check_proof(self, action: SubmitProof) -> None:
        def rule() -> None:
            actor = action.actor
            if actor.role != "enterprise" or actor.id != self.inp.enterprise.id:
                raise ActionRejected("only the enterprise itself submits proof", "forbidden_role")
            if self.status == "proof_submitted":
                raise ActionRejected("proof is already waiting for re-inspection", "wrong_stage")

        self._guard(action, rule)

    def _proof(self, action: SubmitProof) -> str:
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

    @workflow.update
    def reinspect(self, action: Reinspect) -> RectificationOutcome:
        return self._act(action, self._reinspect)

    @reinspect.validator
    def _check_reinspect(self, action: Reinspect) -> None:
        def rule() -> None:
            actor = action.actor
            department = actor.role == "department" and actor.id == self.inp.item.department
            if actor.role != INSPECTOR_ROLE and not department:
                raise ActionRejected(
                    "only an inspector or the responsible department re-inspects", "forbidden_role"
                )
            if self.status != "proof_submitted":
                raise ActionRejected("nothing to re-inspect: no proof submitted", "wrong_stage")

        self._guard(action, rule)

    def _reinspect(self, action: Reinspect) -> str:
        self.verdict = action.passed
        kind = "reinspection_passed" if action.passed else "reinspection_failed"
        self.emit(kind, actor=action.actor, note=action.note, evidence=list(action.evidence))
        return "closing" if action.passed else "sent back for rework"

    @workflow.update
    def record_enforcement(self, action: RecordEnforcement) -> RectificationOutcome:
        return self._act(action, self._enforce)

    @record_enforcement.validator
    def _check_enforce(self, action: RecordEnforcement) -> None:
        def rule() -> None:
            actor = action.actor
            if actor.role != "department" or actor.id != self.inp.item.department:
                raise ActionRejected("only the responsible department enforces", "forbidden_role")
            if self.status != "escalated":
                raise ActionRejected("enforcement follows an escalation", "wrong_stage")

        self._guard(action, rule)

    def _enforce(self, action: RecordEnforcement) -> str:
        data: dict[str, str] = {"measure": str(action.measure)}
        if action.extra is not None:
            self.deadline = workflow.now() + action.extra
            data["until"] = self.deadline.isoformat()
            self.waiter.moved()
        self.emit("enforcement", actor=action.actor, note=action.note, data=data)
        return f"{action.measure} recorded"

    @workflow.update
    def cancel(self, action: CancelRectification) -> RectificationOutcome:
        return self._act(action, self._cancel)

    @cancel.validator
    def _check_cancel(self, action: CancelRectification) -> None:
        def rule() -> None:
            if action.actor.role != "supervisor":
                raise ActionRejected("only the linkage center cancels a hazard", "forbidden_role")

        self._guard(action, rule)

    def _cancel(self, action: CancelRectification) -> str:
        self.deadline = None
        self.emit("cancelled", status="cancelled", actor=action.actor, note=action.reason)
        self.waiter.moved()
        return "cancelled"

    @workflow.query
    def view(self) -> RectificationView:
        return RectificationView(**self.summary().model_dump(), timeline=list(self.timeline))
