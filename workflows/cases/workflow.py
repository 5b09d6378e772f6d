"""``CaseWorkflow``: one civic case from filing to verified closure.

The closed loop of the national standard (file -> dispatch -> handle -> report back ->
verify and close) runs here as a durable workflow: every waiting stage has a timer from the
policy snapshot, every human action is an update whose validator rejects it before it can
enter history, and the only ways out are ``closed`` (after verification) and ``cancelled``
(by a supervisor with a reason). All I/O happens in activities named in ``constants``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from temporalio import workflow

from workflows.cases.actions import CaseActions
from workflows.cases.reporter import tell_reporter
from workflows.cases.state import StewardSlot
from workflows.cases.suspension import CaseSuspension
from workflows.cases.worktime import (
    PATCH_WORKTIME_V2,
    grace_deadline,
    roster_request,
    stage_deadline,
)
from workflows.kit.waiting import Deadline

# An extension of an overdue center stage re-arms its timer (``CaseWorkflow._overdue_until``).
PATCH_OVERDUE_REARM = "overdue-rearm-v1"

with workflow.unsafe.imports_passed_through():
    from constants import WF_CASE
    from schemas.cases.views import CaseResult, CaseView
    from schemas.cases.workflow import OpenCaseInput

StageOutcome = Literal["resolved", "to_department", "returned", "interrupted"]


@workflow.defn(name=WF_CASE)
class CaseWorkflow(CaseSuspension, CaseActions):
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
                tell_reporter(self, "report_resolved")
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
                if self.v3():  # a department that gets it back hears of it again
                    self.fresh_department = True
            else:
                state.handler = "department"
                state.department = redirect.department or state.department
                self.fresh_department = True

    def _close(self) -> None:
        self.emit("closed", status="closed", data={"rework": str(self.state.rework_count)})
        self.tell_closed()
        tell_reporter(self, "report_closed")

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
        team = slot.assignment.grid_id if slot.assignment else None
        state.deadline = await stage_deadline(self, "steward", sla.resolve, team=team)
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
            assignment = await self.reserve(slot, roster_request(self))
            if assignment is None or state.redirect or not state.is_open:
                if assignment is not None:
                    await self._release(slot)
                return False
            slot.accepted, slot.reply, slot.result = False, None, None
            slot.deadline = await stage_deadline(
                self, "steward", accept_sla, team=assignment.grid_id
            )
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
            if workflow.patched(PATCH_WORKTIME_V2):  # the message carries this stage's deadline
                state.deadline = await stage_deadline(self, "department", sla.department)
                self.notify_department("new_case")
            else:  # cases started before: the message went out before the deadline was set
                self.notify_department("new_case")
                state.deadline = await stage_deadline(self, "department", sla.department)
        else:
            state.deadline = await stage_deadline(self, "department", sla.department)
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
            state.deadline = await grace_deadline(self, state.deadline, esc.urge_grace_fraction)
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
        state.deadline = await stage_deadline(self, "center", span)
        self.waiting("the linkage center to reassign the case")
        if not await self.wait_stage(lambda: False, state.deadline):
            await self._overdue_until(lambda: False, "center_decision_overdue")
        return "interrupted"

    async def _verification_stage(self) -> bool:
        state = self.state
        span = state.inp.policy.case_type.sla.verify
        state.deadline = await stage_deadline(self, "center", span)
        state.overdue = False
        self.waiting("verification by someone other than the handler")
        self.ask_verifier()
        if not await self.wait_stage(lambda: state.verification is not None, state.deadline):
            if state.redirect:
                return False
            await self._overdue_until(
                lambda: state.verification is not None, "verification_overdue"
            )
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

    # ---- queries -------------------------------------------------------------------
    @workflow.query
    def view(self) -> CaseView:
        return self.state.view()

    async def _overdue_until(self, done: Callable[[], bool], kind: str) -> None:
        """A stage the center acts in (verification, a returned case) is past its deadline:
        overdue, said in the timeline; then wait for ``done`` (or a redirect, or the end).

        Since ``overdue-rearm-v1`` an extension re-arms the stage: the moved deadline is
        waited for, and when it passes too the stage is overdue again. Before, the case
        waited on nothing once overdue, so a supervisor's extension (accepted: the stage
        has a deadline) set a new deadline that nothing watched (the model walk's
        ``stalled``: dept result, time, extend, time)."""
        state = self.state
        while True:
            state.overdue = True
            state.urge_count += 1
            self.emit(kind)
            if not workflow.patched(PATCH_OVERDUE_REARM):
                await self.wait_stage(done, None)
                return
            deadline = state.deadline
            version = deadline.version if deadline is not None else -1

            def moved(deadline: Deadline | None = deadline, version: int = version) -> bool:
                return done() or (deadline is not None and deadline.version != version)

            await self.wait_stage(moved, None)
            if done() or state.redirect is not None or not state.is_open:
                return
            if await self.wait_stage(done, state.deadline):
                return
