"""Suspension (缓办 / 挂账): the handler asks, the linkage center decides, the clock stops.

A department (or the steward handling the case) asks with a reason code, a reason and a
planned resume date or condition; the center approves or refuses (updates with validators:
a wrong request never enters history). Approved, the stage's deadline pauses: what the limit
still owed, on its own clock (working time since ``worktime-v1``), is kept, and counted again
from the resume. The case shows ``suspended`` (status, ``GpSuspended``, the board) and every
action on it but the center's is refused until it resumes: on the planned date (a timer), on
the center's word (``resume_case``) or when a sensor reports recovery. Every step is in the
timeline; ``resumed`` says how long the case was suspended, which evaluation leaves out.

Nothing here runs unless someone asks to suspend, so older histories replay as they ran.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.cases.base import CaseBase
from workflows.cases.state import WITH_DEPARTMENT
from workflows.cases.suspension_state import Suspension
from workflows.cases.worktime import clock_add, clock_between
from workflows.kit.ledger import ActionRejected
from workflows.kit.updates import answering

with workflow.unsafe.imports_passed_through():
    from constants import SA_SUSPENDED
    from schemas.cases.suspension import (
        ResumeCase,
        ResumedBy,
        SuspensionDecision,
        SuspensionRequest,
    )
    from schemas.cases.workflow import ActionOutcome
    from schemas.platform.common import Actor
    from schemas.platform.updates import Update

case_update = answering(ActionOutcome)


class CaseSuspension(CaseBase):
    """The suspension actions of ``CaseWorkflow`` (a mixin; see the module docstring)."""

    # ---- rules (validators) --------------------------------------------------------
    def _check_holder(self, actor: Actor) -> None:
        state = self.state
        if state.handler == "department":
            state.check_department(actor, allowed=WITH_DEPARTMENT)
            return
        if actor.role != "steward" or actor.id != state.handle.steward_id:
            raise ActionRejected("only whoever handles the case may ask", "not_assigned")
        if state.status != "accepted":
            raise ActionRejected(f"not while the case is {state.status}", "wrong_stage")

    def _request_rule(self, action: SuspensionRequest) -> None:
        state = self.state
        state.check_open()
        if state.suspension is not None:
            what = "suspended" if state.suspension.approved else "asked to be suspended"
            raise ActionRejected(f"the case is already {what}", "wrong_stage")
        self._check_holder(action.actor)
        if action.resume_on is not None and action.resume_on <= workflow.now():
            raise ActionRejected("resume_on must be in the future", "invalid_resume")

    def _decide_rule(self, action: SuspensionDecision) -> None:
        state = self.state
        state.check_supervisor(action.actor)
        pending = state.suspension
        if pending is None or pending.approved:
            raise ActionRejected("no suspension request is waiting", "wrong_stage")
        try:
            self._check_holder(pending.request.actor)
        except ActionRejected as error:
            raise ActionRejected(
                "the case has moved on since the request; it lapsed", "wrong_stage"
            ) from error
        resume_on = pending.request.resume_on
        if action.approve and resume_on is not None and resume_on <= workflow.now():
            raise ActionRejected("the planned resume date has passed", "invalid_resume")

    def _resume_rule(self, action: ResumeCase) -> None:
        self.state.check_supervisor(action.actor)
        if self.state.suspension is None or not self.state.suspension.approved:
            raise ActionRejected("the case is not suspended", "wrong_stage")

    # ---- effects -------------------------------------------------------------------
    @case_update(Update.REQUEST_SUSPENSION, rule=_request_rule)
    def request_suspension(self, action: SuspensionRequest) -> str:
        self.state.suspension = Suspension(request=action)
        data: dict[str, str] = {"reason_code": action.reason_code}
        if action.resume_on is not None:
            data["resume_on"] = action.resume_on.isoformat()
        if action.resume_condition is not None:
            data["resume_condition"] = action.resume_condition
        self.emit("suspension_requested", actor=action.actor, note=action.reason, data=data)
        return "suspension requested; the linkage center decides"

    @case_update(Update.DECIDE_SUSPENSION, rule=_decide_rule)
    def decide_suspension(self, action: SuspensionDecision) -> str:
        state = self.state
        pending = state.suspension
        assert pending is not None
        if not action.approve:
            state.suspension = None
            code = action.refusal_code or "other"
            self.emit(
                "suspension_refused", actor=action.actor, note=action.note, data={"code": code}
            )
            return "suspension refused"
        now = workflow.now()
        pending.approved, pending.since, pending.status_before = True, now, state.status
        deadline = state.deadline
        if deadline is not None:
            pending.deadline = deadline
            pending.remaining = clock_between(deadline, now, deadline.at)
            if not deadline.warned:
                warn = deadline.warn_at(state.inp.policy.escalation.warn_fraction)
                pending.warn_remaining = clock_between(deadline, now, warn)
            deadline.paused = True
            deadline.version += 1
        request = pending.request
        data: dict[str, str] = {
            "reason_code": request.reason_code,
            "remaining_seconds": _secs(pending.remaining),
        }
        if request.resume_on is not None:
            data["resume_on"] = request.resume_on.isoformat()
            self.spawn(self._resume_on_date(pending, request.resume_on))
        self.emit("suspended", status="suspended", actor=action.actor, note=action.note, data=data)
        self.waiting("the suspension to end")
        workflow.upsert_search_attributes([SA_SUSPENDED.value_set(True)])
        return "suspended; the clock stops"

    @case_update(Update.RESUME_CASE, rule=_resume_rule)
    def resume_case(self, action: ResumeCase) -> str:
        return resume_suspension(self, "center", action.actor, action.note)

    async def _resume_on_date(self, suspension: Suspension, at: datetime) -> None:
        state = self.state
        wait = max(at - workflow.now(), timedelta(seconds=1))
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: state.suspension is not suspension or not state.is_open, timeout=wait
            )
        if state.suspension is suspension and state.is_open:
            resume_suspension(self, "date", None, "planned resume date")


def resume_suspension(case: CaseBase, by: ResumedBy, actor: Actor | None, note: str | None) -> str:
    """End the suspension: the stopped limit owes what it owed, counted from now.

    Called by the center's ``resume_case``, the planned date's timer, and a sensor's
    ``report_recovery`` (``workflows.cases.actions``) on a suspended case."""
    state = case.state
    suspension = state.suspension
    assert suspension is not None and suspension.since is not None
    state.suspension = None
    now = workflow.now()
    deadline = suspension.deadline
    data: dict[str, str] = {"by": by, "suspended_seconds": _secs(now - suspension.since)}
    if deadline is not None:
        data["suspended_working_seconds"] = _secs(clock_between(deadline, suspension.since, now))
    if deadline is not None and deadline is state.deadline and deadline.paused:
        deadline.at = clock_add(deadline, now, suspension.remaining)
        if suspension.warn_remaining is not None:
            deadline.warn_fixed = clock_add(deadline, now, suspension.warn_remaining)
        deadline.paused = False
        deadline.version += 1
        data["until"] = deadline.at.isoformat()
    status = suspension.status_before if state.status == "suspended" else None
    case.emit("resumed", status=status, actor=actor, note=note, data=data)
    workflow.upsert_search_attributes([SA_SUSPENDED.value_set(False)])
    return "resumed; the clock runs again"


def _secs(span: timedelta) -> str:
    return str(int(span.total_seconds()))
