"""A small model of ``RectificationWorkflow``'s rules, written from the README and the
inspection brief: the timeline folded entry by entry (``RectModel.apply``), and for an
action by an actor whether it must be accepted or refused with which code (``decide``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from schemas.inspections.rectification import RectificationEvent
from tests.model.case_model import ModelViolation
from tests.model.case_rules import Verdict

OPEN = ("rectifying", "proof_submitted", "escalated")
STATUS_OF = {
    "opened": "rectifying",
    "escalated": "escalated",
    "proof_submitted": "proof_submitted",
    "rework": "rectifying",
    "closed": "closed",
    "cancelled": "cancelled",
}


@dataclass
class RectModel:
    """What the model knows of one hazard: its stage and whether it was ever escalated."""

    rid: str
    enterprise: str
    department: str
    status: str = "rectifying"
    escalated: bool = False
    overdue: bool = False
    has_deadline: bool = True
    seq: int = 0
    verdict: bool | None = None
    inspector: str | None = None  # the inspector of the visit that found it, if any
    # what each party must have received about this hazard: (channel, recipient, kind)
    messages: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def tell(self, kind: str) -> None:
        """The party each message of a hazard goes to (the inspection brief)."""
        enterprise = ("enterprise", self.enterprise)
        department = ("department", self.department)
        to = {
            "opened": [(*enterprise, "rectification_notice")],
            "deadline_warning": [(*enterprise, "rectification_reminder")],
            "escalated": [(*department, "enforcement")],
            "enforcement_overdue": [(*department, "enforcement_overdue")],
            "reinspection_overdue": [(*department, "reinspection_overdue")],
            "proof_submitted": [(*department, "proof_received")]
            + ([("inspector", self.inspector, "reinspection_due")] if self.inspector else []),
            "rework": [(*enterprise, "rectification_rework")],
            "closed": [(*enterprise, "rectification_closed")],
        }
        self.messages.update(to.get(kind, []))

    def apply(self, e: RectificationEvent) -> None:
        kind = e.kind
        if e.seq != self.seq + 1:
            raise ModelViolation(f"{self.rid}: {kind} has seq {e.seq} after {self.seq}", "seq")
        self.seq = e.seq
        if not self.is_open:
            raise ModelViolation(f"{self.rid}: {kind} after the hazard ended", kind)
        need = {
            "proof_submitted": self.status in ("rectifying", "escalated"),
            "reinspection_passed": self.status == "proof_submitted",
            "reinspection_failed": self.status == "proof_submitted",
            "closed": self.verdict is True,
            "rework": self.verdict is False,
            "escalated": not self.escalated and self.status == "rectifying",
            # a reworked hazard of an escalated one overdue again, or the extra time an
            # enforcement gave an escalated one run out
            "enforcement_overdue": self.escalated and self.status in ("rectifying", "escalated"),
            "reinspection_overdue": self.status == "proof_submitted",
        }
        if not need.get(kind, True):
            raise ModelViolation(f"{self.rid}: {kind} not allowed in {self.status}", kind)
        if kind in ("escalated", "enforcement_overdue", "reinspection_overdue"):
            self.overdue, self.has_deadline = True, False
            self.escalated = self.escalated or kind == "escalated"
        elif kind in ("proof_submitted", "rework"):
            self.overdue, self.has_deadline, self.verdict = False, True, None
        elif kind in ("reinspection_passed", "reinspection_failed"):
            self.verdict = kind == "reinspection_passed"
        elif kind == "enforcement" and e.data.get("until"):
            self.has_deadline = True
        elif kind not in ("opened", "deadline_warning", "closed", "cancelled", "enforcement"):
            raise ModelViolation(f"{self.rid}: unknown entry {kind}", kind)
        self.tell(kind)
        self.status = STATUS_OF.get(kind, self.status)
        if e.status != self.status:
            raise ModelViolation(f"{self.rid}: {kind} says {e.status}, model {self.status}", kind)


def decide(m: RectModel, kind: str, role: str, actor_id: str) -> Verdict:
    """Accepted, or refused with the code; route-level refusals are 403 ``forbidden``."""
    if kind == "proof" and role != "enterprise":
        return Verdict.refuse("forbidden", 403)
    if kind == "enforcement" and role != "department":
        return Verdict.refuse("forbidden", 403)
    if kind == "cancel" and role != "supervisor":
        return Verdict.refuse("forbidden", 403)
    if not m.is_open:
        return Verdict.refuse("rectification_ended")
    if kind == "proof":
        if actor_id != m.enterprise:  # another enterprise, on its own path
            return Verdict.refuse("forbidden_role")
        return Verdict.refuse("wrong_stage") if m.status == "proof_submitted" else Verdict.accept()
    if kind == "reinspect":
        if role != "department" or actor_id != m.department:
            return Verdict.refuse("forbidden_role")
        return Verdict.accept() if m.status == "proof_submitted" else Verdict.refuse("wrong_stage")
    if kind == "enforcement":
        if actor_id != m.department:
            return Verdict.refuse("forbidden_role")
        again = m.escalated and m.overdue and m.status == "rectifying"
        return (
            Verdict.accept() if m.status == "escalated" or again else Verdict.refuse("wrong_stage")
        )
    if kind == "cancel":
        return Verdict.accept("cancelled")
    raise ValueError(f"no rule for {kind}")
