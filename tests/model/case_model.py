"""A small model of ``CaseWorkflow``'s rules, written from the README and the issues, not
from ``workflows/case_state.py``.

Two halves, both pure:

* ``CaseModel.apply`` folds the case's timeline entry by entry, refusing an entry the rules
  do not allow at that point (``ModelViolation``): the workflow's history is checked by the
  model;
* ``case_rules.decide`` says whether a human action by an actor must be accepted, or
  refused with which reason code: the workflow's (and the API's) answers are checked.

Rules that other engineers are implementing now are read from ``pending.RULES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from schemas.cases.catalog import CasePolicy
from schemas.cases.views import TimelineEntry
from tests.model.pending import RULES, Rules

OPEN = (
    "reported",
    "filed",
    "dispatched",
    "accepted",
    "escalated",
    "department_handling",
    "returned",
    "resolved",
    "verified",
)
WITH_DEPARTMENT = ("escalated", "department_handling")
AWAITING_RESULT_CHECK = ("resolved", "verified")
# entries that change nothing the rules look at
QUIET_ENTRIES = (
    "deadline_warning",
    "evidence_added",
    "arrived",
    "deadline_extended",
    "no_steward_for_confirmation",
    # a named steward the reservation could not book after all (the nearest other is asked)
    "named_steward_unavailable",
)


class ModelViolation(AssertionError):
    """The service did something the model's rules do not allow; ``kind`` is the entry."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Offer:
    """A steward task offered by the case: to handle it, or to confirm on site."""

    steward: str
    attempt: int
    accepted: bool = False
    answered: bool = False


@dataclass
class CaseModel:
    """The model's own state of one case, from its policy and the timeline so far."""

    case_id: str
    policy: CasePolicy
    rules: Rules = RULES
    status: str = "reported"
    handler: Literal["steward", "department"] = "steward"
    department: str = ""
    handle: Offer | None = None
    confirm: Offer | None = None
    excluded: list[str] = field(default_factory=list)  # declined or let the offer lapse
    resolver: tuple[str, str] | None = None
    last_steward: str | None = None
    confirmer: str | None = None  # who took the on-site confirmation (path both)
    last_handler: str | None = None  # who last accepted the task (not only was offered it)
    extensions: int = 0
    head_escalated: bool = False
    overdue: bool = False
    seq: int = 0
    entries_this_run: int = 0
    reassigned_from: str | None = None  # the steward a supervisor's reassign took it from
    pending_reassign: bool = False
    ends: int = 0  # closed / cancelled entries seen, over all runs
    # (kind, recipient) of every message the parties must have received so far
    messages: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.department = self.policy.department.code
        self.handler = "steward" if self.path == "steward_first" else "department"

    @property
    def path(self) -> str:
        return self.policy.case_type.path

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def has_deadline(self) -> bool:
        """Every stage has a deadline, except a department's after head escalation."""
        return not self.head_escalated

    def holder(self, steward: str) -> Offer | None:
        for offer in (self.handle, self.confirm):
            if offer is not None and offer.steward == steward:
                return offer
        return None

    # ---- the timeline, folded ----------------------------------------------------
    def apply_all(self, entries: list[TimelineEntry]) -> None:
        for entry in entries:
            self.apply(entry)

    def apply(self, e: TimelineEntry) -> None:
        """Take one entry; ``ModelViolation`` if the rules do not allow it here."""
        if e.seq != self.seq + 1 and not (e.kind == "reopened" and e.seq > self.seq):
            raise ModelViolation(
                f"{self.case_id}: {e.kind} has seq {e.seq} after {self.seq}", "seq"
            )
        self.seq = e.seq
        kind, data = e.kind, e.data
        first = self.entries_this_run == 0
        self.entries_this_run += 1
        if first and kind not in ("filed", "reopened"):
            if self.rules.filed_first or kind != "evidence_added":
                raise ModelViolation(
                    f"{self.case_id}: the run starts with {kind}, not filed", "first"
                )
            self.entries_this_run = 0  # as built: device evidence may come before `filed`
            return
        if kind in ("filed", "reopened"):
            self._need(first, kind, "only as the first entry of a run")
            self.status = "filed"
            self._start_run()
        elif not self.is_open:
            raise ModelViolation(
                f"{self.case_id}: {kind} after the case ended ({self.status})", kind
            )
        elif kind == "dispatched":
            steward = data["steward"]
            self._need(steward not in self.excluded, kind, f"{steward} was excluded")
            self._need(self.handle is None, kind, "the previous offer is still held")
            if self.confirm is not None:
                self._need(steward != self.confirm.steward, kind, "the confirming steward")
            if self.rules.reassign_excludes_last and self.reassigned_from is not None:
                self._need(steward != self.reassigned_from, kind, "reassigned back to the same")
            self.reassigned_from = None
            self.pending_reassign = False
            self.handle = Offer(steward, int(data["attempt"]))
            self.head_escalated = False
            self.messages.add(("new_task", steward))
            self.last_steward = steward
            self.handler = "steward"
            self.overdue = False
            self.status = "dispatched"
        elif kind == "accepted":
            self._need(self.handle is not None and not self.handle.answered, kind, "no offer")
            assert self.handle is not None
            self.handle.accepted = self.handle.answered = True
            self.last_handler = self.handle.steward
            self.status = "accepted"
        elif kind in ("declined", "accept_timeout"):
            self._need(self.handle is not None and not self.handle.accepted, kind, "no offer")
            assert self.handle is not None
            self.excluded.append(self.handle.steward)
            if kind == "accept_timeout":
                self.messages.add(("reassigned", self.handle.steward))
            self.handle = None
        elif kind in ("resolved", "steward_cannot_solve", "resolve_overdue"):
            self._need(self.handle is not None and self.handle.accepted, kind, "not accepted")
            self.handle = None
            if kind == "resolved":
                self.resolver = _actor(e)
                self.status = "resolved"
                self._ask_verifier()
            if kind == "resolve_overdue":
                self.overdue = True
        elif kind == "no_steward_available":
            self._need(self.handle is None, kind, "an offer is still held")
            self.handler = "department"
        elif kind == "escalated":
            self.handle = None
            self.handler = "department"
            self.department = data["department"]
            self.messages.add(("new_case", self.department))
            self.head_escalated = False
            self.overdue = False
            self.status = "escalated"
        elif kind == "department_accepted":
            self._need(self.status == "escalated", kind, f"status {self.status}")
            self.status = "department_handling"
        elif kind in ("department_reported", "returned_to_center"):
            self._need(self.status in WITH_DEPARTMENT, kind, f"status {self.status}")
            self.head_escalated = False
            if kind == "department_reported":
                self.resolver = _actor(e)
            self.status = "resolved" if kind == "department_reported" else "returned"
            if kind == "department_reported":
                self._ask_verifier()
        elif kind == "extension_granted":
            self._need(self.handler == "department", kind, "not with a department")
            self._need(not self.head_escalated, kind, "after head escalation")
            self.extensions += 1
        elif kind == "department_head_escalation":
            self._department_stage(kind)
            self.head_escalated = True
            self.messages.add(("head_escalation", self.department))
        elif kind == "supervisor_urge":
            if data.get("department"):  # the timer's urge (a supervisor's has an actor)
                self._department_stage(kind)
                self.overdue = True
        elif kind in ("verified", "verification_failed"):
            self._need(self.status == "resolved", kind, f"status {self.status}")
            self.overdue = False
            if kind == "verified":
                self.status = "verified"
            elif self.handler == "department":
                self.status = "department_handling"  # the department reworks it, no entry
        elif kind == "rework_dispatch":
            self.handle = None
            self.excluded = []
            self.status = "filed"
        elif kind == "closed":
            self._need(self.status == "verified", kind, f"status {self.status}")
            self.status = "closed"
            self.ends += 1
            # whoever holds the task at the close: the steward who took it, while the
            # case is still with stewards (one whose offer lapsed heard `reassigned`)
            if not self.rules.steward_verification and self.last_steward is not None:
                self.messages.add(("case_closed", self.last_steward))
            elif self.handler == "steward" and self.last_handler is not None:
                self.messages.add(("case_closed", self.last_handler))
            if self.rules.cancel_messages and self.confirmer is not None:
                self.messages.add(("case_closed", self.confirmer))
        elif kind in ("cancelled", "merged_into"):
            self.status = "cancelled"
            self.ends += 1
            if self.rules.cancel_messages:
                for offer in (self.handle, self.confirm):
                    if offer is not None:
                        self.messages.add(("case_cancelled", offer.steward))
        elif kind == "reassigned":
            self._need(self.status not in AWAITING_RESULT_CHECK, kind, f"status {self.status}")
            self.reassigned_from = self.handle.steward if self.handle else self.last_steward
            self.handle = None
            self.pending_reassign = True
            self.handler = "steward"
            self.head_escalated = False
        elif kind == "supervisor_escalated":
            self._need(self.status not in AWAITING_RESULT_CHECK, kind, f"status {self.status}")
            self.handle = None
            self.handler = "department"
        elif kind == "sensor_recovered":
            closes = self.policy.case_type.closes_on_recovery
            if closes and self.status not in AWAITING_RESULT_CHECK:
                self.handle = None
                self.resolver = _actor(e)
                self.head_escalated = False
                self.status = "resolved"
                self._ask_verifier()
        elif kind == "confirm_dispatched":
            self._need(self.path == "both", kind, f"path {self.path}")
            self._need(self.confirm is None, kind, "a confirm offer is still held")
            steward = data["steward"]
            if self.handle is not None:
                self._need(steward != self.handle.steward, kind, "the handling steward")
            self.confirm = Offer(steward, int(data["attempt"]))
            self.messages.add(("confirm_task", steward))
        elif kind == "confirm_accepted":
            self._need(self.confirm is not None and not self.confirm.answered, kind, "no offer")
            assert self.confirm is not None
            self.confirm.accepted = self.confirm.answered = True
            self.confirmer = self.confirm.steward
        elif kind in ("confirm_declined", "confirm_timeout", "onsite_confirmed"):
            self._need(self.confirm is not None, kind, "no confirm offer")
            self.confirm = None
        elif kind in ("center_decision_overdue", "verification_overdue"):
            self.overdue = True
        elif kind not in QUIET_ENTRIES:
            raise ModelViolation(f"{self.case_id}: unknown timeline entry {kind}", kind)
        self._check_status(e)

    def _start_run(self) -> None:
        self.handler = "steward" if self.path == "steward_first" else "department"
        self.department = self.policy.department.code
        self.handle = self.confirm = None
        self.excluded, self.head_escalated, self.overdue = [], False, False
        self.resolver = self.last_steward = self.confirmer = self.last_handler = None
        self.extensions = 0
        self.reassigned_from, self.pending_reassign = None, False

    def _ask_verifier(self) -> None:
        """A result to verify: the steward who confirmed on site is asked (``verify_request``)
        unless they are the one who handled or reported it (who may not verify it)."""
        c = self.confirmer
        if (
            self.rules.steward_verification
            and c is not None
            and c != self.last_steward
            and self.resolver != ("steward", c)
        ):
            self.messages.add(("verify_request", c))

    def _department_stage(self, kind: str) -> None:
        """A department stage's timer fired: the case must be with the department (D2)."""
        self._need(self.handler == "department", kind, "not with a department")
        if self.rules.department_again_escalates:
            self._need(self.status in WITH_DEPARTMENT, kind, f"status {self.status}")

    def _need(self, ok: bool, kind: str, why: str) -> None:
        if not ok:
            raise ModelViolation(f"{self.case_id}: {kind} not allowed now: {why}", kind)

    def _check_status(self, e: TimelineEntry) -> None:
        # the department's rework moves the status without an entry: the entry says resolved
        if e.kind == "verification_failed":
            return
        if e.status != self.status:
            raise ModelViolation(
                f"{self.case_id}: entry {e.seq} {e.kind} says {e.status}, model {self.status}",
                f"status_{e.kind}",
            )

    def run_ended(self) -> None:
        """A new run (reopen) starts with its own timeline."""
        self.entries_this_run = 0


def _actor(e: TimelineEntry) -> tuple[str, str] | None:
    return (e.actor.role, e.actor.id) if e.actor else None
