"""What stewards, departments, supervisors and sensors may do to a case: one declaration each.

Each action is declared once (``workflows.kit.updates.human_update``): its update name
(``schemas.platform.updates.Update``), its rule, which runs in the validator so that a refused
action
never enters history (the rules themselves live in ``workflows.cases.state``), and its
effect, the method body, whose answer is the message of the caller's ``ActionOutcome``.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.cases.loop import CaseLoop
from workflows.cases.state import WITH_DEPARTMENT, Redirect
from workflows.cases.suspension import resume_suspension
from workflows.kit.ledger import ActionRejected
from workflows.kit.updates import answering

with workflow.unsafe.imports_passed_through():
    from schemas.cases.workflow import (
        AcceptTask,
        ActionOutcome,
        AddEvidence,
        CancelCase,
        DeclineTask,
        DepartmentAccept,
        DepartmentExtension,
        DepartmentReport,
        DepartmentReturn,
        EscalateCase,
        ExtendDeadline,
        MergeCase,
        ReassignCase,
        ReportArrived,
        ReportRecovery,
        ReportResolved,
        RequestEscalation,
        UrgeCase,
        VerifyResult,
    )
    from schemas.platform.updates import Update


case_update = answering(ActionOutcome)


class CaseActions(CaseLoop):
    """Every human action on a case (see the module docstring)."""

    # ---- steward actions -----------------------------------------------------------
    @case_update(
        Update.ACCEPT_TASK, rule=lambda wf, a: wf.state.check_steward_reply(a.actor, a.attempt)
    )
    def accept_task(self, action: AcceptTask) -> str:
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

    @case_update(
        Update.DECLINE_TASK, rule=lambda wf, a: wf.state.check_steward_reply(a.actor, a.attempt)
    )
    def decline_task(self, action: DeclineTask) -> str:
        slot = self.state.slot_of(action.actor.id)
        assert slot is not None
        slot.reply = "decline"
        kind = "declined" if slot.purpose == "handle" else "confirm_declined"
        self.emit(kind, actor=action.actor, note=action.reason)
        return "declined"

    @case_update(
        Update.REPORT_ARRIVED, rule=lambda wf, a: wf.state.check_steward_working(a.actor, a.attempt)
    )
    def report_arrived(self, action: ReportArrived) -> str:
        data = (
            {"lat": str(action.location.lat), "lon": str(action.location.lon)}
            if (action.location)
            else {}
        )
        self.emit("arrived", actor=action.actor, data=data)
        return "arrival recorded"

    @case_update(
        Update.REPORT_RESOLVED,
        rule=lambda wf, a: wf.state.check_steward_working(a.actor, a.attempt),
    )
    def report_resolved(self, action: ReportResolved) -> str:
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

    def _request_escalation_rule(self, action: RequestEscalation) -> None:
        slot = self.state.check_steward_working(action.actor, action.attempt)
        if slot.purpose != "handle":
            raise ActionRejected("the department already handles this case", "wrong_stage")

    @case_update(Update.REQUEST_ESCALATION, rule=_request_escalation_rule)
    def request_escalation(self, action: RequestEscalation) -> str:
        self.state.handle.result = "escalate"
        self.emit("steward_cannot_solve", actor=action.actor, note=action.reason)
        return "handed to the department"

    # ---- department actions --------------------------------------------------------
    @case_update(
        Update.DEPARTMENT_ACCEPT,
        rule=lambda wf, a: wf.state.check_department(a.actor, allowed=("escalated",)),
    )
    def department_accept(self, action: DepartmentAccept) -> str:
        self.emit("department_accepted", status="department_handling", actor=action.actor)
        self.waiting(f"department {self.state.department} to report its result")
        return "accepted"

    @case_update(
        Update.DEPARTMENT_REPORT,
        rule=lambda wf, a: wf.state.check_department(a.actor, allowed=WITH_DEPARTMENT),
    )
    def department_report(self, action: DepartmentReport) -> str:
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

    @case_update(
        Update.DEPARTMENT_RETURN,
        rule=lambda wf, a: wf.state.check_department(a.actor, allowed=WITH_DEPARTMENT),
    )
    def department_return(self, action: DepartmentReturn) -> str:
        self.state.department_outcome = "returned"
        self.emit("returned_to_center", status="returned", actor=action.actor, note=action.reason)
        return "returned to the linkage center"

    @case_update(
        Update.DEPARTMENT_EXTENSION, rule=lambda wf, a: wf.state.check_extension(a.actor, a.extra)
    )
    def department_extension(self, action: DepartmentExtension) -> str:
        self.state.extensions += 1
        return self.extend(action.actor, action.extra, action.reason, "extension_granted")

    # ---- verification and supervisor actions ---------------------------------------
    @case_update(Update.VERIFY, rule=lambda wf, a: wf.state.check_verifier(a.actor))
    def verify(self, action: VerifyResult) -> str:
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

    @case_update(Update.CANCEL, rule=lambda wf, a: wf.state.check_supervisor(a.actor))
    def cancel(self, action: CancelCase) -> str:
        self.state.redirect, self.state.ended_reason = Redirect("cancel"), action.reason
        self.emit("cancelled", status="cancelled", actor=action.actor, note=action.reason)
        return "cancelled"

    def _reassign_rule(self, action: ReassignCase) -> None:
        self.state.check_supervisor(action.actor)
        if self.state.status in ("resolved", "verified"):
            raise ActionRejected("the result is waiting for verification", "wrong_stage")

    @case_update(Update.REASSIGN, rule=_reassign_rule)
    def reassign(self, action: ReassignCase) -> str:
        self.state.redirect = Redirect("to_steward", steward_id=action.steward_id)
        data = {"steward": action.steward_id} if action.steward_id else {}
        self.emit("reassigned", actor=action.actor, note=action.reason, data=data)
        return "reassigning to a steward"

    def _escalate_rule(self, action: EscalateCase) -> None:
        self.state.check_supervisor(action.actor)
        self.state.check_department_code(action.department)
        if self.state.status in ("resolved", "verified"):
            raise ActionRejected("the result is waiting for verification", "wrong_stage")

    @case_update(Update.ESCALATE, rule=_escalate_rule)
    def escalate(self, action: EscalateCase) -> str:
        department = action.department or self.state.inp.policy.department.code
        self.state.redirect = Redirect("to_department", department=department)
        self.emit(
            "supervisor_escalated",
            actor=action.actor,
            note=action.reason,
            data={"department": department},
        )
        return f"escalating to {department}"

    def _merge_into_rule(self, action: MergeCase) -> None:
        self.state.check_supervisor(action.actor)
        if action.target_case_id == self.state.inp.case_id:
            raise ActionRejected("a case cannot be merged into itself", "same_case")

    @case_update(Update.MERGE_INTO, rule=_merge_into_rule)
    def merge_into(self, action: MergeCase) -> str:
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

    @case_update(Update.URGE, rule=lambda wf, a: wf.state.check_supervisor(a.actor))
    def urge(self, action: UrgeCase) -> str:
        state = self.state
        state.urge_count += 1
        self.emit("supervisor_urge", actor=action.actor, note=action.note)
        if state.handler == "department":
            self.notify_department("urge")
        else:
            self.notify_steward(state.handle, "reminder")
        return "urged"

    def _extend_deadline_rule(self, action: ExtendDeadline) -> None:
        self.state.check_supervisor(action.actor)
        if self.state.deadline is None:
            raise ActionRejected("the current stage has no deadline", "wrong_stage")

    @case_update(Update.EXTEND_DEADLINE, rule=_extend_deadline_rule)
    def extend_deadline(self, action: ExtendDeadline) -> str:
        return self.extend(action.actor, action.extra, action.reason, "deadline_extended")

    def _report_recovery_rule(self, action: ReportRecovery) -> None:
        self.state.check_open()
        if action.actor.role not in ("device", "supervisor"):
            raise ActionRejected(
                "only the sensor or the center reports a recovery", "forbidden_role"
            )

    @case_update(Update.REPORT_RECOVERY, rule=_report_recovery_rule)
    def report_recovery(self, action: ReportRecovery) -> str:
        """A sensor is back to normal: evidence, and for some types the way to closure."""
        state = self.state
        if state.suspension is not None and state.suspension.approved:  # 缓办 ends with it
            resume_suspension(self, "sensor", action.actor, action.note)
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

    @case_update(Update.ADD_EVIDENCE, rule=lambda wf, a: wf.state.check_open())
    def add_evidence(self, action: AddEvidence) -> str:
        self.emit("evidence_added", actor=action.actor, note=action.note, evidence=action.evidence)
        return "evidence added"
