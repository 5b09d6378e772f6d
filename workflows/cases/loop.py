"""What ``CaseWorkflow`` does since patch ``case-loop-v2``, apart from the loop.

Between ``CaseBase`` (plumbing) and ``CaseWorkflow`` (the loop and the handlers), so that the
loop keeps reading as the standard's closed loop. Each behaviour here is decided once per
run by the same patch (one marker event per case); runs started before it replay as they ran:

* **filing comes first**: a device's report opens its case with update-with-start, whose
  ``add_evidence`` runs before ``run``; the first entry of any case is now ``filed``;
* **the projection at rest is the state the case rests in**: it is written when the summary
  changed (waiting for whom, until when), not only when the timeline grew;
* **a reassign never goes back to the steward who let it lie**: the current or last-offered
  steward is excluded, and a named steward who could not be booked after all (a race with
  the API's registry check) is recorded before the nearest other steward is asked;
* **everyone holding an offer or a task hears that the case ended** (closed, cancelled or
  merged);
* **verification by someone else through the bot or a sensor**: the steward who confirmed
  on site is asked to verify a department's (or a sensor's) result (``verify_request``),
  and a sensor's recovery on a case waiting for verification verifies it.

Since patch ``case-loop-v3`` (also decided once, at the start of ``run``):

* **only the main flow's rest is the case's rest**: on path ``both`` the on-site
  confirmation waits in a flow of its own; its wait ending (the offer lapsed or was
  answered) no longer ends the main flow's rest, so what it recorded is projected at once
  instead of when the main flow next wakes;
* **back at a department after a reassign, the case is escalated again**: a case that a
  supervisor took from a department and gave to stewards, and that then goes to a
  department again (no steward took it), records ``escalated`` and sends ``new_case``, so
  its status, the department's message and its actions follow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.cases.base import CaseBase
from workflows.cases.state import Redirect, StewardSlot

with workflow.unsafe.imports_passed_through():
    from constants import ACT_NOTIFY_STEWARD, ACT_PROJECT
    from schemas.cases.dispatch import Assignment, StewardMessage, StewardMessageKind
    from schemas.cases.views import CaseResult, ProjectionBatch
    from schemas.cases.workflow import CaseStatus, OpenCaseInput, ReportRecovery
    from schemas.platform.common import Actor, Evidence
    from schemas.worktime.policy import SliceRequest

PATCH_LOOP_V2 = "case-loop-v2"
PATCH_LOOP_V3 = "case-loop-v3"
FILING_KINDS = ("filed", "reopened")


class CaseLoop(CaseBase):
    """The patched behaviours (see the module docstring), each behind ``PATCH_LOOP_V2``."""

    def __init__(self, inp: OpenCaseInput) -> None:
        super().__init__(inp)
        self._v2: bool | None = None
        self._v3 = False
        self._main: asyncio.Task[Any] | None = None  # the run's own flow (v3)
        self._filed = False
        self._running = False
        self._named: str | None = None  # a steward a supervisor's reassign named

    def v2(self) -> bool:
        """Whether this run follows ``PATCH_LOOP_V2``: asked once, first thing it matters."""
        if self._v2 is None:
            self._v2 = workflow.patched(PATCH_LOOP_V2)
        return self._v2

    def begin_run(self) -> None:
        """Called first thing in ``run`` (after ``catch_up_at_rest``)."""
        self._running = True
        self.v2()
        self._v3 = workflow.patched(PATCH_LOOP_V3)
        self._main = asyncio.current_task()

    def v3(self) -> bool:
        """Whether this run follows ``PATCH_LOOP_V3`` (decided in ``begin_run``)."""
        return self._v3

    async def rest(self, condition: Callable[[], bool], within: timedelta | None = None) -> None:
        """The main flow's rest is the case's rest (v3); a side flow (the on-site
        confirmation) waits without starting or ending it."""
        if self._v3 and asyncio.current_task() is not self._main:
            await workflow.wait_condition(condition, timeout=within)
            return
        await super().rest(condition, within)

    # ---- ending --------------------------------------------------------------------
    async def _release(self, slot: StewardSlot, withdrawn: bool = False) -> None:
        if slot.assignment is None:
            return
        if withdrawn:
            self.notify_steward(slot, "reassigned")
        await self.release(slot)

    async def _release_both(self) -> None:
        await self._release(self.state.handle)
        await self._release(self.state.confirm)

    def _result(self) -> CaseResult:
        state = self.state
        return CaseResult(
            case_id=state.inp.case_id,
            status="cancelled" if state.status == "cancelled" else "closed",
            ended_at=workflow.now(),
            rework_count=state.rework_count,
            events=len(state.timeline),
        )

    # ---- filing first --------------------------------------------------------------
    def emit(
        self,
        kind: str,
        *,
        status: CaseStatus | None = None,
        actor: Actor | None = None,
        note: str | None = None,
        evidence: list[Evidence] | None = None,
        data: dict[str, str] | None = None,
    ) -> None:
        """Record an entry; before ``run`` (update-with-start) file the case first."""
        if not self._filed and not self._running and kind not in FILING_KINDS and self.v2():
            self.file()
        super().emit(
            kind,
            status=status,
            actor=actor,
            note=note,
            evidence=evidence,
            data=data,
        )

    def file(self) -> None:
        """The case's first entry: ``filed`` (or ``reopened`` for a new run), once."""
        if self._filed:
            return
        self._filed = True
        inp = self.state.inp
        grid = {"grid": inp.grid_id, "micro_grid": inp.micro_grid_id or ""}
        if inp.reopen is None:
            self.emit("filed", status="filed", actor=inp.reporter, evidence=inp.evidence, data=grid)
        else:
            self.emit(
                "reopened", status="filed", actor=inp.reopen.by, note=inp.reopen.reason, data=grid
            )

    # ---- projection at rest --------------------------------------------------------
    def _summary_key(self) -> tuple[object, ...]:
        s = self.state
        return (
            s.status,
            s.deadline.at if s.deadline else None,
            s.waiting_for,
            s.overdue,
            s.handle.steward_id or s.last_steward,
            s.department,
            s.handler,
            s.rework_count,
            s.urge_count,
        )

    async def _project_loop(self) -> None:
        """At rest, project new entries or a changed summary (the last entry rewritten)."""
        if not self.v2():
            await super()._project_loop()
            return
        timeline = self.state.timeline
        projected: tuple[object, ...] | None = None

        def due() -> bool:
            if self._finished:
                return True
            if not self._resting:
                return False
            return self._projected < len(timeline) or self._summary_key() != projected

        while True:
            await workflow.wait_condition(due)
            end, key = len(timeline), self._summary_key()
            if end and (end > self._projected or key != projected):
                start = self._projected if end > self._projected else end - 1
                batch = ProjectionBatch(case=self.state.summary(), entries=timeline[start:end])
                await self.io(ACT_PROJECT, batch)
                self._projected, projected = end, key
                continue
            if self._finished:
                return
            projected = key

    # ---- reassign ------------------------------------------------------------------
    def reassign_excluded(self, redirect: Redirect) -> list[str]:
        """Who a supervisor's reassign must not reach: declined ones, and the last offered."""
        excluded = self.state.handle.excluded
        if not self.v2():
            return excluded
        self._named = redirect.steward_id
        last = self.state.last_steward
        if last and last != redirect.steward_id and last not in excluded:
            excluded = [*excluded, last]
        return excluded

    async def reserve(
        self, slot: StewardSlot, team_slice: SliceRequest | None = None
    ) -> Assignment | None:
        """Reserve as ``CaseBase`` does; record when the named steward could not be booked."""
        named = self._named if slot is self.state.handle else None
        if named:
            self._named = None
        assignment = await super().reserve(slot, team_slice)
        if named and (assignment is None or assignment.steward_id != named):
            instead = assignment.steward_id if assignment else ""
            self.emit("named_steward_unavailable", data={"named": named, "instead": instead})
        return assignment

    # ---- telling the stewards ------------------------------------------------------
    def tell(self, steward_id: str, kind: StewardMessageKind, attempt: int = 0) -> None:
        """Queue a message to a steward who may hold no slot any more (ended, verify)."""
        s = self.state
        message = StewardMessage(
            case_id=s.inp.case_id,
            seq=s.seq,
            steward_id=steward_id,
            kind=kind,
            attempt=attempt,
            case_type=s.inp.policy.case_type.code,
            location=s.inp.location,
            description=s.inp.description,
            deadline=s.deadline.at if s.deadline and kind == "verify_request" else None,
            reason=s.ended_reason if kind == "case_cancelled" else None,
            merged_into=s.merged_into if kind == "case_cancelled" else None,
        )
        self._outbox.append((ACT_NOTIFY_STEWARD, message))

    def tell_closed(self) -> None:
        """The case is verified and closed: thank whoever held a task on it."""
        if not self.v2():
            self.notify_steward(self.state.handle, "case_closed")
            return
        for steward_id, attempt in self.state.parties():
            self.tell(steward_id, "case_closed", attempt)

    def tell_cancelled(self) -> None:
        """Cancelled or merged: everyone holding an offer or a task stops (before release)."""
        if self.v2() and self.state.status == "cancelled":
            for steward_id, attempt in self.state.parties():
                self.tell(steward_id, "case_cancelled", attempt)

    # ---- verification by someone else ----------------------------------------------
    def ask_verifier(self) -> None:
        """Ask the steward who confirmed on site to verify a result they did not report."""
        s = self.state
        confirmer = s.confirmer
        if not self.v2() or confirmer is None or confirmer == s.last_steward:
            return  # nobody, or someone ``check_verifier`` refuses as the handler
        if s.resolver is not None and s.resolver == Actor(role="steward", id=confirmer):
            return
        self.tell(confirmer, "verify_request", s.confirmer_attempt)

    def device_verifies(self, action: ReportRecovery) -> bool:
        """A sensor back to normal on a result waiting for verification: a re-check, passed."""
        s = self.state
        if not self.v2() or action.actor.role != "device" or s.status != "resolved":
            return False
        if s.resolver == action.actor or s.verification is not None:
            return False
        s.verification = True
        self.emit(
            "verified",
            status="verified",
            actor=action.actor,
            note=action.note,
            evidence=action.evidence,
            data={"by": "sensor_recovery"},
        )
        return True
