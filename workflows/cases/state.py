"""The state of one case and the rules that say which human action is allowed when.

Pure and deterministic: no Temporal calls except through the ``now`` passed in, so the
rules can be read (and tested) apart from the workflow's timers and activities. The update
validators of ``CaseWorkflow`` call ``check_*``; a rule that fails raises ``ActionRejected``
and the action never enters the workflow's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from schemas.cases.dispatch import Assignment
from schemas.cases.views import CaseSummary, CaseView, TimelineEntry
from schemas.cases.workflow import OPEN_STATUSES, ActionOutcome, CaseStatus, OpenCaseInput
from schemas.platform.common import Actor, Evidence
from workflows.cases.suspension_state import Suspension
from workflows.kit.ledger import ActionRejected
from workflows.kit.waiting import Deadline, working_span

Handler = Literal["steward", "department"]

WITH_DEPARTMENT: tuple[CaseStatus, ...] = ("escalated", "department_handling")


@dataclass
class StewardSlot:
    """One steward task of a case: handling it, or confirming on site (path ``both``)."""

    purpose: Literal["handle", "confirm"]
    assignment: Assignment | None = None
    accepted: bool = False
    reply: Literal["accept", "decline"] | None = None
    result: Literal["resolved", "escalate"] | None = None
    excluded: list[str] = field(default_factory=list)
    deadline: Deadline | None = None

    @property
    def steward_id(self) -> str | None:
        return self.assignment.steward_id if self.assignment else None


@dataclass
class Redirect:
    """A supervisor's decision that interrupts whatever stage the case is in."""

    kind: Literal["cancel", "to_steward", "to_department", "recovered"]
    steward_id: str | None = None
    department: str | None = None


@dataclass
class CaseState:
    """Everything the workflow knows about its case."""

    inp: OpenCaseInput
    status: CaseStatus = "reported"
    handler: Handler = "steward"
    department: str = ""
    handle: StewardSlot = field(default_factory=lambda: StewardSlot("handle"))
    confirm: StewardSlot = field(default_factory=lambda: StewardSlot("confirm"))
    deadline: Deadline | None = None
    waiting_for: str = "filing"
    overdue: bool = False
    rework_count: int = 0
    urge_count: int = 0
    extensions: int = 0
    dispatch_attempts: int = 0
    resolver: Actor | None = None
    last_steward: str | None = None
    # who took the tasks (accepted), and why the case ended: whom to tell when it ends
    last_handler: str | None = None
    confirmer: str | None = None
    confirmer_attempt: int = 0
    ended_reason: str | None = None
    merged_into: str | None = None
    department_outcome: Literal["resolved", "returned"] | None = None
    verification: bool | None = None
    redirect: Redirect | None = None
    suspension: Suspension | None = None  # 缓办, workflows.cases.suspension
    timeline: list[TimelineEntry] = field(default_factory=list)
    outcomes: dict[str, ActionOutcome] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.inp.reopen is not None:
            self.rework_count = self.inp.reopen.previous_rework + 1
        policy = self.inp.policy
        self.department = policy.department.code
        self.handler = "steward" if policy.case_type.path == "steward_first" else "department"

    # ---- reading -------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """Sequence number of the latest entry; a reopened case continues its old timeline."""
        offset = self.inp.reopen.previous_seq if self.inp.reopen else 0
        return offset + len(self.timeline)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def summary(self) -> CaseSummary:
        inp = self.inp
        return CaseSummary(
            case_id=inp.case_id,
            case_type=inp.policy.case_type.code,
            status=self.status,
            source=inp.source,
            priority=inp.policy.case_type.priority,
            grid_id=inp.grid_id,
            micro_grid_id=inp.micro_grid_id,
            department=self.department,
            handler=self.handler,
            steward_id=self.handle.steward_id or self.last_steward,
            location=inp.location,
            description=inp.description,
            reported_at=inp.reported_at,
            deadline=self.deadline.at if self.deadline else None,
            waiting_for=self.waiting_for,
            overdue=self.overdue,
            rework_count=self.rework_count,
            urge_count=self.urge_count,
            deadline_span=working_span(self.deadline),
        )

    def view(self) -> CaseView:
        return CaseView(
            **self.summary().model_dump(),
            timeline=list(self.timeline),
        )

    def parties(self) -> list[tuple[str, int]]:
        """``(steward, attempt)`` of everyone holding an offer or a task on the case.

        The handling steward (offered or working, or the one whose result waits for
        verification) and the on-site confirming steward (offered, or who confirmed).
        """
        found: dict[str, int] = {}
        handle, confirm = self.handle, self.confirm
        if handle.assignment is not None:
            found[handle.assignment.steward_id] = handle.assignment.attempt
        elif self.handler == "steward" and self.last_handler:
            found[self.last_handler] = 0
        if confirm.assignment is not None:
            found.setdefault(confirm.assignment.steward_id, confirm.assignment.attempt)
        elif self.confirmer:
            found.setdefault(self.confirmer, self.confirmer_attempt)
        return list(found.items())

    # ---- writing -------------------------------------------------------------------
    def record(
        self,
        now: datetime,
        kind: str,
        *,
        status: CaseStatus | None = None,
        actor: Actor | None = None,
        note: str | None = None,
        evidence: list[Evidence] | None = None,
        data: dict[str, str] | None = None,
    ) -> TimelineEntry:
        """Append one timeline entry (and move the status when it changes)."""
        if status is not None:
            self.status = status
        entry = TimelineEntry(
            seq=self.seq + 1,
            kind=kind,
            status=self.status,
            at=now,
            actor=actor,
            note=note,
            evidence=list(evidence or []),
            data=dict(data or {}),
        )
        self.timeline.append(entry)
        return entry

    def outcome(self, key: str, message: str) -> ActionOutcome:
        """Remember the answer to an action so that a retry with the same key gets it again."""
        result = ActionOutcome(
            case_id=self.inp.case_id, status=self.status, seq=self.seq, message=message
        )
        self.outcomes[key] = result
        return result

    # ---- rules ---------------------------------------------------------------------
    def slot_of(self, steward_id: str) -> StewardSlot | None:
        for slot in (self.handle, self.confirm):
            if slot.steward_id == steward_id:
                return slot
        return None

    def check_open(self) -> None:
        if not self.is_open:
            raise ActionRejected(f"case is {self.status}", "case_ended")

    def check_steward_reply(self, actor: Actor, attempt: int | None = None) -> StewardSlot:
        """Accept or decline: only the steward the task is offered to, while it is offered."""
        self.check_open()
        _require_role(actor, "steward")
        slot = self.slot_of(actor.id)
        if slot is None or not _same_offer(slot, attempt):
            raise ActionRejected("too late: this task is no longer offered to you", "too_late")
        if slot.accepted or slot.reply is not None:
            raise ActionRejected("this task was already answered", "already_done")
        return slot

    def check_steward_working(self, actor: Actor, attempt: int | None = None) -> StewardSlot:
        """Arrived, resolved, cannot solve: only the steward who accepted the task."""
        self.check_open()
        _require_role(actor, "steward")
        slot = self.slot_of(actor.id)
        if slot is None or not _same_offer(slot, attempt):
            raise ActionRejected("this task is not assigned to you", "not_assigned")
        if not slot.accepted:
            raise ActionRejected("accept the task first", "not_accepted")
        if slot.result is not None:
            raise ActionRejected("this task was already reported", "already_done")
        return slot

    def check_department(self, actor: Actor, *, allowed: tuple[CaseStatus, ...]) -> None:
        self.check_open()
        _require_role(actor, "department")
        if self.handler != "department" or actor.id != self.department:
            raise ActionRejected("this case is not with your department", "not_assigned")
        if self.status not in allowed:
            raise ActionRejected(f"not allowed while the case is {self.status}", "wrong_stage")

    def check_extension(self, actor: Actor, extra: timedelta) -> None:
        """A department's own extension, within the policy and while its stage has a deadline.

        Past the second overdue the case went to the department head and the stage has no
        deadline left to move: refused here, because a handler that found nothing to extend
        would fail the workflow task on every retry and stall the case.
        """
        self.check_department(actor, allowed=WITH_DEPARTMENT)
        if self.deadline is None:
            raise ActionRejected(
                "the case has gone to the department head: ask the linkage center",
                "escalated_to_head",
            )
        esc = self.inp.policy.escalation
        if self.extensions >= esc.max_department_extensions:
            raise ActionRejected("no more extensions: ask the linkage center", "limit")
        limit = self.inp.policy.case_type.sla.department * esc.max_department_extension_fraction
        if extra > limit:
            raise ActionRejected(f"at most {limit} may be granted without the center", "limit")

    def check_verifier(self, actor: Actor) -> None:
        """Verification (核查) by anyone but the one who reported the result."""
        self.check_open()
        if actor.role not in ("supervisor", "steward", "device"):
            raise ActionRejected(f"a {actor.role} cannot verify a case", "forbidden_role")
        if self.status != "resolved":
            raise ActionRejected(
                f"nothing to verify while the case is {self.status}", "wrong_stage"
            )
        if self.resolver is not None and self.resolver == actor:
            raise ActionRejected("the handler cannot verify their own result", "self_verification")
        if actor.role == "steward" and actor.id == self.last_steward:
            raise ActionRejected("the handler cannot verify their own result", "self_verification")

    def check_supervisor(self, actor: Actor) -> None:
        self.check_open()
        _require_role(actor, "supervisor")

    def check_department_code(self, code: str | None) -> None:
        if code is not None and code not in self.inp.policy.departments:
            raise ActionRejected(f"unknown department {code}", "unknown_department")


def _same_offer(slot: StewardSlot, attempt: int | None) -> bool:
    return attempt is None or (slot.assignment is not None and slot.assignment.attempt == attempt)


def _require_role(actor: Actor, role: str) -> None:
    if actor.role != role:
        raise ActionRejected(f"only a {role} may do this, not a {actor.role}", "forbidden_role")
