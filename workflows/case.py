"""``CaseWorkflow``: one civic case from filing to verified closure.

The closed loop of the national standard (file -> dispatch -> handle -> report back ->
verify and close) runs here as a durable workflow: every waiting stage has a timer from the
policy snapshot, every human action is an update whose validator rejects it before it can
enter history, and the only ways out are ``closed`` (after verification) and ``cancelled``
(by a supervisor with a reason). All I/O happens in activities named in ``constants``.
"""

from __future__ import annotations

from typing import Literal

from temporalio import workflow

from workflows.case_loop import CaseLoop
from workflows.case_state import (
    WITH_DEPARTMENT,
    ActionRejected,
    Deadline,
    Redirect,
    StewardSlot,
)

with workflow.unsafe.imports_passed_through():
    from schemas.case import (
        AcceptTask,
        ActionOutcome,
        AddEvidence,
        CancelCase,
        CaseResult,
        CaseView,
        DeclineTask,
        DepartmentAccept,
        DepartmentExtension,
        DepartmentReport,
        DepartmentReturn,
        EscalateCase,
        ExtendDeadline,
        MergeCase,
        OpenCaseInput,
        ReassignCase,
        ReportArrived,
        ReportRecovery,
        ReportResolved,
        RequestEscalation,
        UrgeCase,
        VerifyResult,
    )

StageOutcome = Literal["resolved", "to_department", "returned", "interrupted"]


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow(CaseLoop):
    """Durable handling of one case; see the module docstring."""

    @workflow.init
    def __init__(self, inp: OpenCaseInput) -> None:
        super().__init__(inp)

    # ---- the loop ------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: OpenCaseInput) -> CaseResult:
        self.catch_up_at_rest()
        self.begin_run()
        if self.state.status == "cancelled":  # a supervisor cancelled it before it ever ran
            self.start_background()
            await self.drain()
            return self._result()
        self.file()
        self.start_background()
        if inp.policy.case_type.path == "both":
            self.spawn(self._confirm_on_site())
        try:
            await self._handle_until_verified()
        except GeneratorExit:
            # A run its worker dropped (e.g. at shutdown) being closed by the garbage
            # collector: the case goes on from its history elsewhere, and awaiting here
            # would only print "Exception ignored ... Not in workflow event loop".
            raise
        except BaseException:  # cancelled or failed: give the stewards back, then re-raise
            await self._release_both()
            raise
        self.tell_cancelled()
        await self._release_both()
        await self.drain()
        return self._result()

    async def _handle_until_verified(self) -> None:
        state = self.state
        while True:
            if state.handler == "steward":
                outcome = await self._steward_stage()
            else:
                outcome = await self._department_stage()
            if outcome == "to_department":
                state.handler = "department"
                continue
            if outcome == "returned":
                outcome = await self._center_decides()
            if outcome == "resolved":
                if await self._verification_stage():
                    self._close()
                    return
                continue
            # interrupted: a supervisor decided, or a sensor recovered
            redirect = state.redirect
            state.redirect = None
            if redirect is None:  # pragma: no cover - every interrupt sets it
                continue
            if redirect.kind == "cancel":
                return
            await self._release(state.handle, withdrawn=True)
            state.department_outcome = None
            state.overdue = False
            if redirect.kind == "recovered":
                if await self._verification_stage():
                    self._close()
                    return
            elif redirect.kind == "to_steward":
                state.handler = "steward"
                state.handle = StewardSlot("handle", excluded=self.reassign_excluded(redirect))
                self.preferred_steward = redirect.steward_id
            else:
                state.handler = "department"
                state.department = redirect.department or state.department
                self.fresh_department = True

    def _close(self) -> None:
        self.emit("closed", status="closed", data={"rework": str(self.state.rework_count)})
        self.tell_closed()

    # ---- stages --------------------------------------------------------------------
    async def _steward_stage(self) -> StageOutcome:
        state = self.state
        sla = state.inp.policy.case_type.sla
        slot = state.handle
        if not await self._offer(slot):
            if state.redirect:
                return "interrupted"
            self.emit("no_steward_available", data={"excluded": ",".join(slot.excluded)})
            return "to_department"
        state.deadline = Deadline(workflow.now() + sla.resolve, sla.resolve)
        self.waiting("steward to solve it")
        done = await self.wait_stage(lambda: slot.result is not None, state.deadline, self._remind)
        if state.redirect:
            return "interrupted"
        if done and slot.result == "resolved":
            await self._release(slot)
            return "resolved"
        if not done:
            state.overdue = True
            self.emit("resolve_overdue", data={"steward": slot.steward_id or ""})
            self.notify_steward(slot, "reassigned")
        await self._release(slot)
        return "to_department"

    async def _offer(self, slot: StewardSlot) -> bool:
        """Offer the task to the nearest free stewards in turn until one accepts."""
        state = self.state
        esc = state.inp.policy.escalation
        accept_sla = state.inp.policy.case_type.sla.accept
        for _ in range(esc.max_dispatch_attempts):
            assignment = await self.reserve(slot)
            if assignment is None or state.redirect or not state.is_open:
                if assignment is not None:
                    await self._release(slot)
                return False
            slot.accepted, slot.reply, slot.result = False, None, None
            slot.deadline = Deadline(workflow.now() + accept_sla, accept_sla)
            data = {
                "steward": assignment.steward_id,
                "distance_km": f"{assignment.distance_km:.3f}",
                "attempt": str(assignment.attempt),
            }
            if slot.purpose == "handle":
                state.overdue = False
                state.deadline = slot.deadline
                self.emit("dispatched", status="dispatched", data=data)
                self.waiting(f"steward {assignment.steward_id} to accept")
                self.notify_steward(slot, "new_task")
            else:
                self.emit("confirm_dispatched", data=data)
                self.notify_steward(slot, "confirm_task")
            answered = await self.wait_stage(
                lambda: slot.reply is not None,
                slot.deadline,
                interruptible=slot.purpose == "handle",
            )
            if state.redirect and slot.purpose == "handle":
                return False
            if not state.is_open:
                return False
            if answered and slot.reply == "accept":
                return True
            if not answered:
                kind = "accept_timeout" if slot.purpose == "handle" else "confirm_timeout"
                self.emit(kind, data={"steward": assignment.steward_id})
                self.notify_steward(slot, "reassigned")
            slot.excluded.append(assignment.steward_id)
            await self._release(slot)
        return False

    async def _department_stage(self) -> StageOutcome:
        state = self.state
        sla = state.inp.policy.case_type.sla
        esc = state.inp.policy.escalation
        if self.fresh_department:
            self.fresh_department = False
            state.overdue = False
            self.emit("escalated", status="escalated", data={"department": state.department})
            self.notify_department("new_case")
        state.deadline = Deadline(workflow.now() + sla.department, sla.department)
        self.waiting(f"department {state.department}")
        level = 0
        while True:
            deadline = state.deadline if level < 2 else None
            done = await self.wait_stage(
                lambda: state.department_outcome is not None, deadline, self._warn_department
            )
            if state.redirect:
                return "interrupted"
            if done:
                outcome = state.department_outcome
                state.department_outcome = None
                return "returned" if outcome == "returned" else "resolved"
            level += 1
            state.overdue = True
            state.urge_count += 1
            grace = sla.department * esc.urge_grace_fraction
            state.deadline = Deadline(workflow.now() + grace, grace)
            if level == 1:
                self.emit("supervisor_urge", data={"department": state.department})
                self.notify_department("urge")
            else:
                state.deadline = None
                self.emit("department_head_escalation", data={"department": state.department})
                self.notify_department("head_escalation")
            self.sync_visibility()

    async def _center_decides(self) -> StageOutcome:
        """A department returned the case: the linkage center must reassign or cancel it."""
        state = self.state
        span = state.inp.policy.case_type.sla.verify
        state.deadline = Deadline(workflow.now() + span, span)
        self.waiting("the linkage center to reassign the case")
        if not await self.wait_stage(lambda: False, state.deadline):
            state.overdue = True
            state.urge_count += 1
            self.emit("center_decision_overdue")
            await self.wait_stage(lambda: False, None)
        return "interrupted"

    async def _verification_stage(self) -> bool:
        state = self.state
        span = state.inp.policy.case_type.sla.verify
        state.deadline = Deadline(workflow.now() + span, span)
        state.overdue = False
        self.waiting("verification by someone other than the handler")
        self.ask_verifier()
        if not await self.wait_stage(lambda: state.verification is not None, state.deadline):
            if state.redirect:
                return False
            state.overdue = True
            state.urge_count += 1
            self.emit("verification_overdue")
            await self.wait_stage(lambda: state.verification is not None, None)
        if state.redirect or state.verification is None:
            return False
        if state.verification:
            return True
        state.verification = None
        state.rework_count += 1
        if state.handler == "steward":
            self.preferred_steward = state.last_steward
            state.handle = StewardSlot("handle")
            self.emit("rework_dispatch", status="filed")
        else:
            state.status = "department_handling"
            self.sync_visibility()
            self.notify_department("rework")
        return False

    async def _confirm_on_site(self) -> None:
        """Path ``both``: a steward confirms on site while the department handles the case."""
        slot = self.state.confirm
        if not await self._offer(slot):
            if self.state.is_open:
                self.emit("no_steward_for_confirmation")
            return
        await workflow.wait_condition(lambda: slot.result is not None or not self.state.is_open)
        await self._release(slot)

    # ---- timers' side effects ------------------------------------------------------
    async def _remind(self) -> None:
        self.emit("deadline_warning", data={"steward": self.state.handle.steward_id or ""})
        self.notify_steward(self.state.handle, "reminder")

    async def _warn_department(self) -> None:
        self.emit("deadline_warning", data={"department": self.state.department})
        self.notify_department("warning")

    # ---- steward actions -----------------------------------------------------------
    @workflow.update
    def accept_task(self, action: AcceptTask) -> ActionOutcome:
        return self.act(action, self._accept)

    @accept_task.validator
    def _check_accept(self, action: AcceptTask) -> None:
        self.guard(action, lambda: self.state.check_steward_reply(action.actor, action.attempt))

    def _accept(self, action: AcceptTask) -> str:
        slot = self.state.slot_of(action.actor.id)
        assert slot is not None
        slot.reply, slot.accepted = "accept", True
        if slot.purpose == "handle":
            self.state.last_handler = action.actor.id
            self.emit("accepted", status="accepted", actor=action.actor)
        else:
            attempt = slot.assignment.attempt if slot.assignment else 0
            self.state.confirmer, self.state.confirmer_attempt = action.actor.id, attempt
            self.emit("confirm_accepted", actor=action.actor)
        return "accepted"

    @workflow.update
    def decline_task(self, action: DeclineTask) -> ActionOutcome:
        return self.act(action, self._decline)

    @decline_task.validator
    def _check_decline(self, action: DeclineTask) -> None:
        self.guard(action, lambda: self.state.check_steward_reply(action.actor, action.attempt))

    def _decline(self, action: DeclineTask) -> str:
        slot = self.state.slot_of(action.actor.id)
        assert slot is not None
        slot.reply = "decline"
        kind = "declined" if slot.purpose == "handle" else "confirm_declined"
        self.emit(kind, actor=action.actor, note=action.reason)
        return "declined"

    @workflow.update
    def report_arrived(self, action: ReportArrived) -> ActionOutcome:
        return self.act(action, self._arrived)

    @report_arrived.validator
    def _check_arrived(self, action: ReportArrived) -> None:
        self.guard(action, lambda: self.state.check_steward_working(action.actor, action.attempt))

    def _arrived(self, action: ReportArrived) -> str:
        data = (
            {"lat": str(action.location.lat), "lon": str(action.location.lon)}
            if (action.location)
            else {}
        )
        self.emit("arrived", actor=action.actor, data=data)
        return "arrival recorded"

    @workflow.update
    def report_resolved(self, action: ReportResolved) -> ActionOutcome:
        return self.act(action, self._resolved)

    @report_resolved.validator
    def _check_resolved(self, action: ReportResolved) -> None:
        self.guard(action, lambda: self.state.check_steward_working(action.actor, action.attempt))

    def _resolved(self, action: ReportResolved) -> str:
        state = self.state
        slot = state.slot_of(action.actor.id)
        assert slot is not None
        slot.result = "resolved"
        if slot.purpose == "confirm":
            self.emit(
                "onsite_confirmed", actor=action.actor, note=action.note, evidence=action.evidence
            )
            return "on-site confirmation recorded"
        state.resolver = action.actor
        self.emit(
            "resolved",
            status="resolved",
            actor=action.actor,
            note=action.note,
            evidence=action.evidence,
        )
        return "resolved; waiting for verification"

    @workflow.update
    def request_escalation(self, action: RequestEscalation) -> ActionOutcome:
        return self.act(action, self._cannot_solve)

    @request_escalation.validator
    def _check_escalation(self, action: RequestEscalation) -> None:
        def rule() -> None:
            slot = self.state.check_steward_working(action.actor, action.attempt)
            if slot.purpose != "handle":
                raise ActionRejected("the department already handles this case", "wrong_stage")

        self.guard(action, rule)

    def _cannot_solve(self, action: RequestEscalation) -> str:
        self.state.handle.result = "escalate"
        self.emit("steward_cannot_solve", actor=action.actor, note=action.reason)
        return "handed to the department"

    # ---- department actions --------------------------------------------------------
    @workflow.update
    def department_accept(self, action: DepartmentAccept) -> ActionOutcome:
        return self.act(action, self._dept_accept)

    @department_accept.validator
    def _check_dept_accept(self, action: DepartmentAccept) -> None:
        self.guard(
            action, lambda: self.state.check_department(action.actor, allowed=("escalated",))
        )

    def _dept_accept(self, action: DepartmentAccept) -> str:
        self.emit("department_accepted", status="department_handling", actor=action.actor)
        self.waiting(f"department {self.state.department} to report its result")
        return "accepted"

    @workflow.update
    def department_report(self, action: DepartmentReport) -> ActionOutcome:
        return self.act(action, self._dept_report)

    @department_report.validator
    def _check_dept_report(self, action: DepartmentReport) -> None:
        self.guard(
            action, lambda: self.state.check_department(action.actor, allowed=WITH_DEPARTMENT)
        )

    def _dept_report(self, action: DepartmentReport) -> str:
        state = self.state
        state.department_outcome = "resolved"
        state.resolver = action.actor
        self.emit(
            "department_reported",
            status="resolved",
            actor=action.actor,
            note=action.note,
            evidence=action.evidence,
        )
        return "resolved; waiting for verification"

    @workflow.update
    def department_return(self, action: DepartmentReturn) -> ActionOutcome:
        return self.act(action, self._dept_return)

    @department_return.validator
    def _check_dept_return(self, action: DepartmentReturn) -> None:
        self.guard(
            action, lambda: self.state.check_department(action.actor, allowed=WITH_DEPARTMENT)
        )

    def _dept_return(self, action: DepartmentReturn) -> str:
        self.state.department_outcome = "returned"
        self.emit("returned_to_center", status="returned", actor=action.actor, note=action.reason)
        return "returned to the linkage center"

    @workflow.update
    def department_extension(self, action: DepartmentExtension) -> ActionOutcome:
        return self.act(action, self._dept_extension)

    @department_extension.validator
    def _check_dept_extension(self, action: DepartmentExtension) -> None:
        self.guard(action, lambda: self.state.check_extension(action.actor, action.extra))

    def _dept_extension(self, action: DepartmentExtension) -> str:
        self.state.extensions += 1
        return self.extend(action.actor, action.extra, action.reason, "extension_granted")

    # ---- verification and supervisor actions ---------------------------------------
    @workflow.update
    def verify(self, action: VerifyResult) -> ActionOutcome:
        return self.act(action, self._verify)

    @verify.validator
    def _check_verify(self, action: VerifyResult) -> None:
        self.guard(action, lambda: self.state.check_verifier(action.actor))

    def _verify(self, action: VerifyResult) -> str:
        state = self.state
        state.verification = action.passed
        if action.passed:
            self.emit(
                "verified",
                status="verified",
                actor=action.actor,
                note=action.note,
                evidence=action.evidence,
            )
            return "verified; closing"
        self.emit(
            "verification_failed",
            actor=action.actor,
            note=action.note,
            evidence=action.evidence,
            data={"rework": str(state.rework_count + 1)},
        )
        return "reopened for rework"

    @workflow.update
    def cancel(self, action: CancelCase) -> ActionOutcome:
        return self.act(action, self._cancel)

    @cancel.validator
    def _check_cancel(self, action: CancelCase) -> None:
        self.guard(action, lambda: self.state.check_supervisor(action.actor))

    def _cancel(self, action: CancelCase) -> str:
        self.state.redirect, self.state.ended_reason = Redirect("cancel"), action.reason
        self.emit("cancelled", status="cancelled", actor=action.actor, note=action.reason)
        return "cancelled"

    @workflow.update
    def reassign(self, action: ReassignCase) -> ActionOutcome:
        return self.act(action, self._reassign)

    @reassign.validator
    def _check_reassign(self, action: ReassignCase) -> None:
        def rule() -> None:
            self.state.check_supervisor(action.actor)
            if self.state.status in ("resolved", "verified"):
                raise ActionRejected("the result is waiting for verification", "wrong_stage")

        self.guard(action, rule)

    def _reassign(self, action: ReassignCase) -> str:
        self.state.redirect = Redirect("to_steward", steward_id=action.steward_id)
        data = {"steward": action.steward_id} if action.steward_id else {}
        self.emit("reassigned", actor=action.actor, note=action.reason, data=data)
        return "reassigning to a steward"

    @workflow.update
    def escalate(self, action: EscalateCase) -> ActionOutcome:
        return self.act(action, self._escalate)

    @escalate.validator
    def _check_escalate(self, action: EscalateCase) -> None:
        def rule() -> None:
            self.state.check_supervisor(action.actor)
            self.state.check_department_code(action.department)
            if self.state.status in ("resolved", "verified"):
                raise ActionRejected("the result is waiting for verification", "wrong_stage")

        self.guard(action, rule)

    def _escalate(self, action: EscalateCase) -> str:
        department = action.department or self.state.inp.policy.department.code
        self.state.redirect = Redirect("to_department", department=department)
        self.emit(
            "supervisor_escalated",
            actor=action.actor,
            note=action.reason,
            data={"department": department},
        )
        return f"escalating to {department}"

    @workflow.update
    def merge_into(self, action: MergeCase) -> ActionOutcome:
        return self.act(action, self._merge)

    @merge_into.validator
    def _check_merge(self, action: MergeCase) -> None:
        def rule() -> None:
            self.state.check_supervisor(action.actor)
            if action.target_case_id == self.state.inp.case_id:
                raise ActionRejected("a case cannot be merged into itself", "same_case")

        self.guard(action, rule)

    def _merge(self, action: MergeCase) -> str:
        self.state.redirect, self.state.ended_reason = Redirect("cancel"), action.reason
        self.state.merged_into = action.target_case_id
        self.emit(
            "merged_into",
            status="cancelled",
            actor=action.actor,
            note=action.reason,
            data={"target": action.target_case_id},
        )
        return f"merged into {action.target_case_id}"

    @workflow.update
    def urge(self, action: UrgeCase) -> ActionOutcome:
        return self.act(action, self._urge)

    @urge.validator
    def _check_urge(self, action: UrgeCase) -> None:
        self.guard(action, lambda: self.state.check_supervisor(action.actor))

    def _urge(self, action: UrgeCase) -> str:
        state = self.state
        state.urge_count += 1
        self.emit("supervisor_urge", actor=action.actor, note=action.note)
        if state.handler == "department":
            self.notify_department("urge")
        else:
            self.notify_steward(state.handle, "reminder")
        return "urged"

    @workflow.update
    def extend_deadline(self, action: ExtendDeadline) -> ActionOutcome:
        return self.act(action, self._extend)

    @extend_deadline.validator
    def _check_extend(self, action: ExtendDeadline) -> None:
        def rule() -> None:
            self.state.check_supervisor(action.actor)
            if self.state.deadline is None:
                raise ActionRejected("the current stage has no deadline", "wrong_stage")

        self.guard(action, rule)

    def _extend(self, action: ExtendDeadline) -> str:
        return self.extend(action.actor, action.extra, action.reason, "deadline_extended")

    @workflow.update
    def report_recovery(self, action: ReportRecovery) -> ActionOutcome:
        return self.act(action, self._recovery)

    @report_recovery.validator
    def _check_recovery(self, action: ReportRecovery) -> None:
        def rule() -> None:
            self.state.check_open()
            if action.actor.role not in ("device", "supervisor"):
                raise ActionRejected(
                    "only the sensor or the center reports a recovery", "forbidden_role"
                )

        self.guard(action, rule)

    def _recovery(self, action: ReportRecovery) -> str:
        """A sensor is back to normal: evidence, and for some types the way to closure."""
        state = self.state
        closes = state.inp.policy.case_type.closes_on_recovery
        if not closes or state.status in ("resolved", "verified"):
            if self.device_verifies(action):
                return "verified by the sensor's recovery; closing"
            self.emit(
                "sensor_recovered", actor=action.actor, note=action.note, evidence=action.evidence
            )
            return "recovery recorded"
        state.redirect = Redirect("recovered")
        state.resolver = action.actor
        self.emit(
            "sensor_recovered",
            status="resolved",
            actor=action.actor,
            note=action.note,
            evidence=action.evidence,
        )
        return "recovered; waiting for verification"

    @workflow.update
    def add_evidence(self, action: AddEvidence) -> ActionOutcome:
        return self.act(action, self._add_evidence)

    @add_evidence.validator
    def _check_add_evidence(self, action: AddEvidence) -> None:
        self.guard(action, self.state.check_open)

    def _add_evidence(self, action: AddEvidence) -> str:
        self.emit("evidence_added", actor=action.actor, note=action.note, evidence=action.evidence)
        return "evidence added"

    # ---- queries -------------------------------------------------------------------
    @workflow.query
    def view(self) -> CaseView:
        return self.state.view()
