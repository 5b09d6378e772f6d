"""A small model of ``JointInspectionWorkflow``'s rules, written from the README, the
inspection brief and the API's documented answers, not from the workflow's ``check_*``:
the timeline folded entry by entry (``InspModel.apply``: which entry may follow which),
and for an action by an actor whether it must be accepted or refused with which code
(``decide``). The hazards an inspection hands on are modelled by ``RectModel``; the one
rule added here is who may re-inspect (``decide_hazard``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from schemas.inspections.workflow import InspectionEvent
from tests.model.case_model import ModelViolation
from tests.model.case_rules import Verdict
from tests.model.rectification_model import RectModel
from tests.model.rectification_model import decide as decide_rectification

INSPECTOR = "inspector"
OPEN = ("preparing", "unassigned", "scheduled", "visiting", "reported")
SEVERITY_RANK = {"minor": 1, "major": 2, "critical": 3}
MAX_REASSIGNMENTS = 2  # checklists.json: visit.max_reassignments
FORBIDDEN = Verdict.refuse("forbidden", 403)
CENTER = ("center", "linkage_center")
Message = tuple[str, str, str]  # channel, recipient, kind


@dataclass(frozen=True)
class FormItem:
    """What the model needs of one item of the merged form: automatic, answers' severity."""

    code: str
    department: str
    automatic: bool
    answers: dict[str, str]  # answer code -> severity


@dataclass
class InspModel:
    """What the model knows of one inspection."""

    iid: str
    enterprise: str
    grid: str
    status: str = "preparing"
    inspector: str | None = None  # booked, able to act; None between a withdrawal and a booking
    attempt: int = 0
    overdue: bool = False
    withdrawing: bool = False
    form: dict[str, FormItem] = field(default_factory=dict)
    answered: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    hazards_closed: int = 0
    built: bool = False
    seq: int = 0
    ended: int = 0  # terminal entries seen (exactly one, at the end)
    completed: bool = False  # the workflow itself has completed
    receipts: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # what each party must have received about this inspection, and how many times
    messages: Counter[Message] = field(default_factory=Counter)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def tell(self, channel: str, recipient: str, kind: str) -> None:
        self.messages[(channel, recipient, kind)] += 1

    def departments(self) -> list[str]:
        return sorted({item.department for item in self.form.values()})

    @property
    def hazards(self) -> int:
        return sum(1 for outcome, _ in self.answered.values() if outcome == "hazard")

    def unanswered(self) -> list[str]:
        return [c for c in self.form if c not in self.answered]

    # ---- the timeline --------------------------------------------------------------
    def apply(self, e: InspectionEvent) -> None:
        kind, s = e.kind, self.status
        if e.seq != self.seq + 1:
            raise ModelViolation(f"{self.iid}: {kind} has seq {e.seq} after {self.seq}", "seq")
        self.seq = e.seq
        if not self.is_open:
            raise ModelViolation(f"{self.iid}: {kind} after the inspection ended ({s})", kind)
        booked = e.actor is not None and e.actor.id == self.inspector
        allowed = {
            "requested": e.seq == 1,
            "form_built": s == "preparing" and not self.built,
            "no_inspector": s in ("preparing", "unassigned") or self.withdrawing,
            "scheduled": s in ("preparing", "unassigned") or self.withdrawing,
            "visit_reminder": s == "scheduled" and self.inspector is not None,
            "visit_overdue": s in ("scheduled", "visiting") and not self.overdue,
            "visit_started": s == "scheduled" and booked,
            "results_recorded": s == "visiting" and booked,
            "visited": s == "visiting" and booked and not self.unanswered(),
            "sections_sent": s == "reported",
            "hazard_closed": s == "reported" and self.hazards_closed < self.hazards,
            "closed": s == "reported" and self.hazards_closed == self.hazards,
            "cancelled": s in ("preparing", "unassigned", "scheduled"),
        }
        if kind not in allowed:
            raise ModelViolation(f"{self.iid}: unknown entry {kind}", kind)
        if not allowed[kind]:
            raise ModelViolation(f"{self.iid}: {kind} not allowed in {s}", kind)
        if kind == "form_built":
            self.built = True
        elif kind in ("no_inspector", "scheduled"):
            attempt = int(e.data.get("attempt", "0"))
            if attempt != self.attempt + 1:
                raise ModelViolation(f"{self.iid}: booking {attempt} after {self.attempt}", kind)
            self.attempt, self.withdrawing, self.overdue = attempt, False, False
            self.inspector = e.data.get("inspector") if kind == "scheduled" else None
            if self.inspector is not None:  # the inspector and the enterprise hear of the visit
                self.tell(INSPECTOR, self.inspector, "inspection_assigned")
                self.tell("enterprise", self.enterprise, "visit_scheduled")
            elif s != "unassigned":  # the center hears of it once, not at every retry
                self.tell(*CENTER, "inspection_unassigned")
            s = "scheduled" if kind == "scheduled" else "unassigned"
        elif kind == "visit_reminder" and self.inspector is not None:
            self.tell(INSPECTOR, self.inspector, "visit_reminder")
        elif kind == "visit_overdue":
            self.overdue = True
            self.tell(*CENTER, "visit_overdue")
            if s == "scheduled" and self.attempt <= MAX_REASSIGNMENTS:
                if self.inspector is not None:
                    self.tell(INSPECTOR, self.inspector, "visit_withdrawn")
                self.withdrawing, self.inspector = True, None  # another inspector is booked
        elif kind == "sections_sent":  # each department its own section
            for department in self.departments():
                self.tell("department", department, "inspection_section")
        elif kind == "visit_started":
            s = "visiting"
        elif kind == "visited":
            s, self.overdue = "reported", False
        elif kind == "hazard_closed":
            self.hazards_closed += 1
        elif kind in ("closed", "cancelled"):
            s, self.ended = kind, self.ended + 1
            if kind == "cancelled":  # the booking is released: the slot is free again
                self.inspector = None
        self.status = s
        if e.status != self.status:
            raise ModelViolation(f"{self.iid}: {kind} says {e.status}, model {s}", kind)

    # ---- actions -------------------------------------------------------------------
    def results_verdict(self, items: list[dict[str, Any]]) -> Verdict:
        """The form's rules for one submission (the order the API documents)."""
        codes = [i["item_code"] for i in items]
        if len(set(codes)) != len(codes):
            return Verdict.refuse("duplicate_item")
        if any(c not in self.form for c in codes):
            return Verdict.refuse("unknown_item")
        for i in items:
            item = self.form[i["item_code"]]
            if item.automatic:
                return Verdict.refuse("automatic_item")
            answer = i.get("answer")
            if answer is None:
                continue
            if answer not in item.answers:
                return Verdict.refuse("unknown_answer")
            raised = i.get("severity")
            if raised and SEVERITY_RANK[raised] < SEVERITY_RANK[item.answers[answer]]:
                return Verdict.refuse("severity_too_low")
        return Verdict.accept()

    def record(self, items: list[dict[str, Any]]) -> None:
        """An accepted submission: each item's outcome and severity (raised, never lowered);
        an item that becomes a critical hazard reaches its department at once."""
        for i in items:
            answer = i.get("answer")
            severity = None
            if answer is not None:
                severity = self.form[i["item_code"]].answers[answer]
                raised = i.get("severity")
                if raised and SEVERITY_RANK[raised] > SEVERITY_RANK[severity]:
                    severity = raised
            was = self.answered.get(i["item_code"], ("", None))[1]
            if i["outcome"] == "hazard" and severity == "critical" and was != "critical":
                self.tell("department", self.form[i["item_code"]].department, "critical_hazard")
            self.answered[i["item_code"]] = (i["outcome"], severity)


def receipt(kind: str, actor_id: str, role: str, body: dict[str, Any]) -> tuple[str, str, str]:
    return kind, f"{role}:{actor_id}", json.dumps(body, sort_keys=True)


def decide(
    m: InspModel,
    kind: str,
    role: str,
    actor_id: str,
    body: dict[str, Any],
    key: str,
    registered: set[str],
) -> Verdict:
    """Accepted, or refused with the code, for ``kind`` in visit/results/finish/cancel."""
    if kind == "cancel":
        if role != "supervisor":
            return FORBIDDEN
    elif role != INSPECTOR or actor_id not in registered:
        return FORBIDDEN
    known = m.receipts.get(key)
    if known is not None and known == receipt(kind, actor_id, role, body):
        return Verdict.accept()  # the stored answer, even once the workflow has completed
    if m.completed:
        return Verdict.refuse("inspection_ended")
    if known is not None:
        return Verdict.refuse("idempotency_key_reused")
    if not m.is_open:
        return Verdict.refuse("inspection_ended")
    if kind == "cancel":
        busy = m.status in ("visiting", "reported")
        return Verdict.refuse("wrong_stage") if busy else Verdict.accept("cancelled")
    if actor_id != m.inspector:
        return Verdict.refuse("not_assigned")
    if kind == "visit":
        if m.status == "visiting":
            return Verdict.refuse("already_done")
        return Verdict.accept() if m.status == "scheduled" else Verdict.refuse("wrong_stage")
    if m.status != "visiting":
        return Verdict.refuse("wrong_stage")
    if kind == "results":
        return m.results_verdict(body["items"])
    if kind == "finish":
        return Verdict.refuse("incomplete") if m.unanswered() else Verdict.accept()
    raise ValueError(f"no rule for {kind}")


def decide_hazard(
    m: RectModel,
    kind: str,
    role: str,
    actor_id: str,
    booked: str | None,
    grid: str,
    inspectors: dict[str, str],
) -> Verdict:
    """``decide`` of the rectification model, with the inspectors who may re-inspect: the
    booked one and any registered inspector of the enterprise's grid (``inspectors``:
    registered inspector -> grid)."""
    if kind == "reinspect" and role == INSPECTOR:
        if actor_id not in inspectors:
            return FORBIDDEN
        if not m.is_open:
            return Verdict.refuse("rectification_ended")
        if actor_id != booked and inspectors[actor_id] != grid:
            return Verdict.refuse("forbidden_role")
        return Verdict.accept() if m.status == "proof_submitted" else Verdict.refuse("wrong_stage")
    if kind == "reinspect" and role not in ("department", INSPECTOR):
        return FORBIDDEN
    return decide_rectification(m, kind, role, actor_id)
