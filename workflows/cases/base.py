"""The plumbing of ``CaseWorkflow``: timeline, visibility, activities, timers, actions.

Split from ``case.py`` so that the loop there reads as the closed loop of the standard and
nothing else. Projection writes and notifications go through two ordered queues drained by
background coroutines: a stage timer never waits on a slow gateway, and the workflow does
not finish before every entry is projected and every message is sent. Since ``outbox-at-rest-v1``
each message is handed to its recipient's outbox queue in the database at once, even while
a gateway refuses an older one, so a steward or department gets the messages of all cases
in the order they were queued (``activities.messaging.delivery``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from workflows.cases.deadline_text import until_text
from workflows.cases.state import CaseState, StewardSlot
from workflows.kit.calls import call, call_local
from workflows.kit.ledger import Ledger
from workflows.kit.waiting import Deadline, wait_with_warning, working_span

with workflow.unsafe.imports_passed_through():
    from constants import (
        ACT_ENQUEUE_DEPARTMENT,
        ACT_ENQUEUE_STEWARD,
        ACT_NOTIFY_DEPARTMENT,
        ACT_NOTIFY_STEWARD,
        ACT_PROJECT,
        ACT_RELEASE_STEWARD,
        ACT_RESERVE_STEWARD,
        SA_CASE_TYPE,
        SA_DEADLINE,
        SA_DEPARTMENT,
        SA_GRID,
        SA_KIND,
        SA_MICRO_GRID,
        SA_OVERDUE,
        SA_PRIORITY,
        SA_REWORK,
        SA_SOURCE,
        SA_STATUS,
        SA_STEWARD,
    )
    from schemas.cases.dispatch import (
        Assignment,
        DepartmentMessage,
        DepartmentMessageKind,
        DispatchRequest,
        ReleaseRequest,
        StewardMessage,
        StewardMessageKind,
    )
    from schemas.cases.views import ProjectionBatch
    from schemas.cases.workflow import ActionOutcome, CaseStatus, OpenCaseInput
    from schemas.platform.common import Actor, Evidence, HumanAction
    from schemas.worktime.policy import SliceAnswer, SliceRequest


PATCH_LOCAL_IO = "local-io-v1"
# One patch for the two changes released together (one marker event per case, not two):
# * the projection catches up when the case comes to rest (waits for a person or a timer),
#   in one batch, instead of after each step: from report to "steward notified" one local
#   activity fewer (filed and dispatched go together). Search attributes are still upserted
#   at once: during a database outage the Web UI is the supervisors' exact view;
# * messages go through the recipient's outbox queue (below).
# Older runs replay as they ran.
PATCH_OUTBOX_AT_REST = "outbox-at-rest-v1"
# Past this backoff a failing local activity waits on a durable timer instead of holding the
# workflow task, so updates and queries stay answerable during a long outage.
LOCAL_RETRY_THRESHOLD = timedelta(seconds=4)

# Messages go through the recipient's outbox queue (``activities.messaging.delivery``): an enqueue
# step per message (a local activity: store it, try to deliver the recipient's queue up to
# it), and only for what a gateway refused, a deliver step (a regular activity, retried by
# Temporal) running beside the loop, so later messages are still queued at once.
ENQUEUE = {ACT_NOTIFY_STEWARD: ACT_ENQUEUE_STEWARD, ACT_NOTIFY_DEPARTMENT: ACT_ENQUEUE_DEPARTMENT}

A = TypeVar("A", bound=HumanAction)


class CaseBase:
    """State, timeline, visibility and I/O helpers shared by the stages of a case."""

    def __init__(self, inp: OpenCaseInput) -> None:
        self.state = CaseState(inp)
        self.keys: Ledger[ActionOutcome] = Ledger()  # per idempotency key: request, answer
        self.preferred_steward: str | None = None
        self.fresh_department = True
        self._projected = 0
        self._outbox: list[tuple[str, StewardMessage | DepartmentMessage]] = []
        self._sent = 0
        # the patch: per recipient, the newest message a gateway refused, and its deliverer
        self._late: dict[str, tuple[str, StewardMessage | DepartmentMessage]] = {}
        self._delivering: set[str] = set()
        self._deliveries: list[asyncio.Task[None]] = []
        self._finished = False
        self._tasks: list[asyncio.Task[None]] = []
        self._visible: list[Any] | None = None
        self._resting = False  # the main flow waits for a person or a timer
        self._at_rest = False  # project at rest (PATCH_OUTBOX_AT_REST), decided at run start
        # the team calendar the last reservation brought (``reserve-slice-v1``), until used
        self._team_slice: tuple[str, SliceAnswer | str] | None = None

    # ---- timeline and visibility ---------------------------------------------------
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
        self.state.record(
            workflow.now(),
            kind,
            status=status,
            actor=actor,
            note=note,
            evidence=evidence,
            data=data,
        )
        self.sync_visibility()

    def waiting(self, what: str) -> None:
        self.state.waiting_for = what
        self.sync_visibility()

    def catch_up_at_rest(self) -> None:
        """Called first thing in ``run``: whether this run projects at rest (the patch)."""
        self._at_rest = workflow.patched(PATCH_OUTBOX_AT_REST)

    def sync_visibility(self) -> None:
        """Keep search attributes and the Web UI's current details in step with the case."""
        s = self.state
        summary = s.summary()
        values: list[Any] = [
            ("case", summary.case_type, summary.status, summary.grid_id, summary.micro_grid_id),
            (summary.department, summary.steward_id, summary.source, summary.priority),
            (summary.rework_count, summary.deadline, summary.overdue),
        ]
        if values == self._visible:
            return
        self._visible = values
        updates: list[SearchAttributeUpdate[Any]] = [
            SA_KIND.value_set("case"),
            SA_CASE_TYPE.value_set(summary.case_type),
            SA_STATUS.value_set(summary.status),
            SA_GRID.value_set(summary.grid_id),
            SA_DEPARTMENT.value_set(summary.department),
            SA_SOURCE.value_set(summary.source),
            SA_PRIORITY.value_set(summary.priority),
            SA_REWORK.value_set(summary.rework_count),
            SA_OVERDUE.value_set(summary.overdue),
            SA_MICRO_GRID.value_set(summary.micro_grid_id)
            if summary.micro_grid_id
            else SA_MICRO_GRID.value_unset(),
            SA_STEWARD.value_set(summary.steward_id)
            if summary.steward_id
            else SA_STEWARD.value_unset(),
            SA_DEADLINE.value_set(summary.deadline)
            if summary.deadline and s.is_open
            else SA_DEADLINE.value_unset(),
        ]
        workflow.upsert_search_attributes(updates)
        until = until_text(s.deadline) if summary.deadline else ""
        overdue = " — OVERDUE" if summary.overdue else ""
        workflow.set_current_details(
            f"**{summary.status}** · grid {summary.grid_id} · {summary.department}\n\n"
            f"Waiting for {s.waiting_for}{until}{overdue}. "
            f"Rework {summary.rework_count}, urged {summary.urge_count}."
            if s.is_open
            else f"**{summary.status}** after {len(s.timeline)} timeline entries."
        )

    # ---- human actions -------------------------------------------------------------
    def guard(self, action: HumanAction, rule: Callable[[], object]) -> None:
        """Validator body: an exact repeat passes, a reused key is refused (``Ledger``)."""
        self.keys.guard(action, rule)

    def act(self, action: A, apply: Callable[[A], str]) -> ActionOutcome:
        return self.keys.act(action, lambda a: self.state.outcome(a.idempotency_key, apply(a)))

    def extend(self, actor: Actor, extra: timedelta, reason: str, kind: str) -> str:
        deadline = self.state.deadline
        assert deadline is not None
        deadline.extend(extra)
        self.state.overdue = deadline.at <= workflow.now()
        self.emit(kind, actor=actor, note=reason, data={"until": deadline.at.isoformat()})
        return f"deadline moved to {deadline.at.isoformat()}"

    # ---- timers --------------------------------------------------------------------
    async def wait_stage(
        self,
        done: Callable[[], bool],
        deadline: Deadline | None,
        on_warn: Callable[[], Awaitable[None]] | None = None,
        interruptible: bool = True,
    ) -> bool:
        """Wait for ``done``; False once the (movable) deadline passes.

        Also returns True when a supervisor interrupts (``redirect``) or the case ends, so
        callers check those first. ``on_warn`` runs once, at the policy's warn fraction.
        """
        state = self.state

        def finished() -> bool:
            return done() or (interruptible and state.redirect is not None) or not state.is_open

        return await wait_with_warning(
            finished, deadline, state.inp.policy.escalation.warn_fraction, on_warn, self.rest
        )

    async def rest(self, condition: Callable[[], bool], within: timedelta | None = None) -> None:
        """Wait as the case's main flow; what the timeline gained meanwhile is projected."""
        self._resting = True
        try:
            await workflow.wait_condition(condition, timeout=within)
        finally:
            self._resting = False

    # ---- activities ----------------------------------------------------------------
    async def io(self, name: str, arg: Any, result_type: type | None = None) -> Any:
        """Run one short I/O step: a local activity since ``PATCH_LOCAL_IO``.

        Projection writes, reservations and messages take milliseconds; as local activities
        each leaves one marker event instead of three activity events, which keeps a typical
        case well under 100 events. Cases started before the patch replay the old way.
        """
        if workflow.patched(PATCH_LOCAL_IO):
            return await call_local(
                name, arg, result_type, local_retry_threshold=LOCAL_RETRY_THRESHOLD
            )
        return await call(name, arg, result_type)

    async def reserve(
        self, slot: StewardSlot, team_slice: SliceRequest | None = None
    ) -> Assignment | None:
        """Book the nearest free steward; with ``team_slice``, bring their team's calendar."""
        s = self.state
        s.dispatch_attempts += 1
        other = s.confirm if slot is s.handle else s.handle
        exclude = [*slot.excluded, *([other.steward_id] if other.steward_id else [])]
        request = DispatchRequest(
            case_id=s.inp.case_id,
            attempt=s.dispatch_attempts,
            location=s.inp.location,
            grid_id=s.inp.grid_id,
            skills=list(s.inp.policy.case_type.skills),
            exclude=exclude,
            radii_km=list(s.inp.policy.escalation.search_radii_km),
            preferred_steward=self.preferred_steward if slot is s.handle else None,
            case_type=s.inp.policy.case_type.code,  # industry stewards' coverage (issue 16)
            team_slice=team_slice,
        )
        if slot is s.handle:
            self.preferred_steward = None
        assignment: Assignment | None = await self.io(
            ACT_RESERVE_STEWARD,
            request,
            Assignment | None,  # type: ignore[arg-type]
        )
        self._team_slice = None
        if assignment is not None and team_slice is not None:
            # Neither: a worker from before the patch ignored the request; the stage then
            # asks the calendar activity itself (``team_deadline``), as before.
            answer = assignment.team_slice or assignment.team_slice_error
            if answer is not None:
                self._team_slice = (assignment.grid_id, answer)
            # the slot keeps the booking, not the calendar (queries, continue-as-new)
            assignment = assignment.model_copy(update={"team_slice": None})
        slot.assignment = assignment
        if assignment is not None and slot is s.handle:
            s.last_steward = assignment.steward_id
        return assignment

    def take_team_slice(self, team: str) -> SliceAnswer | str | None:
        """The calendar the reservation brought for ``team`` (or why it has none), once."""
        held, self._team_slice = self._team_slice, None
        if held is None or held[0] != team:
            return None
        return held[1]

    async def release(self, slot: StewardSlot) -> None:
        assignment = slot.assignment
        if assignment is None:
            return
        slot.assignment, slot.accepted = None, False
        request = ReleaseRequest(
            case_id=self.state.inp.case_id,
            attempt=assignment.attempt,
            steward_id=assignment.steward_id,
        )
        await self.io(ACT_RELEASE_STEWARD, request)
        self.sync_visibility()

    def notify_steward(self, slot: StewardSlot, kind: StewardMessageKind) -> None:
        s = self.state
        steward = slot.steward_id or (s.last_steward if kind == "case_closed" else None)
        if steward is None:
            return
        attempt = slot.assignment.attempt if slot.assignment else 0
        chosen = (slot.deadline if slot.deadline and not slot.accepted else None) or s.deadline
        message = StewardMessage(
            case_id=s.inp.case_id,
            seq=s.seq,
            steward_id=steward,
            kind=kind,
            attempt=attempt,
            case_type=s.inp.policy.case_type.code,
            location=s.inp.location,
            description=s.inp.description,
            deadline=(slot.deadline.at if slot.deadline and not slot.accepted else None)
            or (s.deadline.at if s.deadline else None),
            deadline_span=working_span(chosen),
        )
        self._outbox.append((ACT_NOTIFY_STEWARD, message))

    def notify_department(self, kind: DepartmentMessageKind) -> None:
        s = self.state
        message = DepartmentMessage(
            case_id=s.inp.case_id,
            seq=s.seq,
            department=s.department,
            kind=kind,
            case_type=s.inp.policy.case_type.code,
            priority=s.inp.policy.case_type.priority,
            location=s.inp.location,
            description=s.inp.description,
            deadline=s.deadline.at if s.deadline else None,
            deadline_span=working_span(s.deadline),
            evidence=list(s.inp.evidence),
        )
        self._outbox.append((ACT_NOTIFY_DEPARTMENT, message))

    # ---- background queues ---------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(coro))

    def start_background(self) -> None:
        self.spawn(self._project_loop())
        self.spawn(self._send_loop())

    async def drain(self) -> None:
        """Let every queued projection write and message go out before the case ends."""
        self._finished = True
        await asyncio.gather(*self._tasks)

    async def _project_loop(self) -> None:
        timeline = self.state.timeline

        def due() -> bool:
            if self._finished:
                return True
            if not self._at_rest:
                return self._projected < len(timeline)
            return self._resting and self._projected < len(timeline)

        while True:
            await workflow.wait_condition(due)
            if self._projected >= len(timeline):
                return
            end = len(timeline)
            batch = ProjectionBatch(
                case=self.state.summary(), entries=timeline[self._projected : end]
            )
            await self.io(ACT_PROJECT, batch)
            self._projected = end

    async def _send_loop(self) -> None:
        """Send queued messages in order; the first one decides the way (the patch)."""
        outbox: bool | None = None
        while True:
            await workflow.wait_condition(lambda: self._sent < len(self._outbox) or self._finished)
            if self._sent >= len(self._outbox):
                break
            name, message = self._outbox[self._sent]
            if outbox is None:
                outbox = workflow.patched(PATCH_OUTBOX_AT_REST)
            if not outbox:  # cases started before the patch: one retried send at a time
                await self.io(name, message)
            elif not await self.io(ENQUEUE[name], message, bool):
                self._deliver_later(name, message)
            self._sent += 1
        if self._deliveries:  # the case ends once every refused message went out
            await asyncio.gather(*self._deliveries)

    def _deliver_later(self, name: str, message: StewardMessage | DepartmentMessage) -> None:
        """The gateway refused: a deliver step will drain the recipient's queue up to it."""
        if isinstance(message, StewardMessage):
            recipient = f"bot:{message.steward_id}"
        else:
            recipient = f"department:{message.department}"
        self._late[recipient] = (name, message)
        if recipient not in self._delivering:
            self._delivering.add(recipient)
            self._deliveries.append(asyncio.create_task(self._deliver_loop(recipient)))

    async def _deliver_loop(self, recipient: str) -> None:
        """One deliver step at a time per recipient, up to the newest refused message.

        Each step delivers the recipient's queue up to its message, older messages of other
        cases included, and fails while the gateway refuses; Temporal retries it forever.
        """
        while recipient in self._late:
            name, message = self._late[recipient]
            await call(name, message)
            if self._late[recipient][1] is message:
                del self._late[recipient]
        self._delivering.discard(recipient)
