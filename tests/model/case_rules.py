"""The rules for human actions on a case: accepted, or refused with which reason code.

Decided from the model's state of the case at rest (``case_model.CaseModel``), in the
order a caller meets them; the intended rules still being implemented come from
``pending.RULES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tests.model.case_model import AWAITING_RESULT_CHECK, WITH_DEPARTMENT, CaseModel


@dataclass(frozen=True)
class Verdict:
    """What the API must answer: ``ok`` (2xx), or ``status`` with reason ``code``.

    ``skip``: the action is known to break the tree as built (see ``pending``); not sent.
    """

    ok: bool
    code: str | None = None
    status: int = 200
    skip: bool = False
    after: str | None = None  # the case status the accepted action reports, when known

    @staticmethod
    def accept(after: str | None = None) -> Verdict:
        return Verdict(True, after=after)

    @staticmethod
    def refuse(code: str, status: int = 409) -> Verdict:
        return Verdict(False, code, status)


SKIP = Verdict(False, None, 0, skip=True)


@dataclass(frozen=True)
class Action:
    """One human action as the model sees it: what, by whom, with which parameters."""

    kind: str  # accept, decline, arrived, resolved, escalate_request, dept_accept, ...
    role: str
    actor_id: str
    attempt: int | None = None
    extra: timedelta | None = None  # extension
    department: str | None = None  # supervisor escalate
    steward: str | None = None  # supervisor reassign to a named steward
    steward_available: bool = True  # ... who can take it
    passed: bool | None = None  # verify


# ---- the rules for human actions --------------------------------------------------
STEWARD_REPLY = ("accept", "decline")
STEWARD_WORK = ("arrived", "resolved", "escalate_request")
DEPARTMENT = ("dept_accept", "dept_report", "dept_return", "dept_extension")


def decide(m: CaseModel, a: Action) -> Verdict:
    """Accept, or refuse with the code the caller must get; ``m`` is the case at rest."""
    rules = m.rules
    if a.kind == "merge_self":
        return Verdict.refuse("same_case")
    if a.kind == "merge_into_ended":
        return Verdict.refuse("target_not_open")
    if a.kind == "reopen":
        if m.is_open:
            return Verdict.refuse("still_open")
        return Verdict.accept() if m.status == "closed" else Verdict.refuse("not_closed")
    if not m.is_open:
        return Verdict.refuse("case_ended")
    if a.kind in STEWARD_REPLY:
        offer = m.holder(a.actor_id)
        if offer is None or (a.attempt is not None and a.attempt != offer.attempt):
            return Verdict.refuse("too_late")
        if offer.answered:
            return Verdict.refuse("already_done")
        return Verdict.accept()
    if a.kind in STEWARD_WORK:
        offer = m.holder(a.actor_id)
        if offer is None or (a.attempt is not None and a.attempt != offer.attempt):
            return Verdict.refuse("not_assigned")
        if not offer.accepted:
            return Verdict.refuse("not_accepted")
        if a.kind == "escalate_request" and offer is m.confirm:
            return Verdict.refuse("wrong_stage")
        return Verdict.accept()
    if a.kind in DEPARTMENT:
        if m.handler != "department" or a.actor_id != m.department:
            return Verdict.refuse("not_assigned")
        allowed = ("escalated",) if a.kind == "dept_accept" else WITH_DEPARTMENT
        if m.status not in allowed:
            return Verdict.refuse("wrong_stage")
        if a.kind == "dept_extension":
            if m.head_escalated:
                return (
                    Verdict.refuse("escalated_to_head") if rules.head_escalation_extension else SKIP
                )
            esc = m.policy.escalation
            limit = m.policy.case_type.sla.department * esc.max_department_extension_fraction
            assert a.extra is not None
            if m.extensions >= esc.max_department_extensions or a.extra > limit:
                return Verdict.refuse("limit")
        after = {"dept_accept": "department_handling", "dept_report": "resolved"}
        return Verdict.accept(after.get(a.kind, "returned" if a.kind == "dept_return" else None))
    if a.kind == "verify":
        if m.status != "resolved":
            return Verdict.refuse("wrong_stage")
        if m.resolver == (a.role, a.actor_id):
            return Verdict.refuse("self_verification")
        if a.role == "steward" and a.actor_id == m.last_steward:
            return Verdict.refuse("self_verification")
        return Verdict.accept("verified" if a.passed else "resolved")
    if a.kind in ("cancel", "merge"):
        return Verdict.accept("cancelled")
    if a.kind in ("reassign", "escalate"):
        unknown = a.department is not None and a.department not in m.policy.departments
        if a.kind == "escalate" and unknown:
            return Verdict.refuse("unknown_department")
        if m.status in AWAITING_RESULT_CHECK:
            return Verdict.refuse("wrong_stage")
        unavailable = a.steward is not None and not a.steward_available
        if a.kind == "reassign" and unavailable and rules.reassign_named_unavailable:
            return Verdict.refuse("steward_unavailable")
        return Verdict.accept()
    if a.kind == "urge":
        return Verdict.accept()
    if a.kind == "extend":
        return Verdict.accept() if m.has_deadline else Verdict.refuse("wrong_stage")
    if a.kind == "recovery":
        closes = m.policy.case_type.closes_on_recovery
        return Verdict.accept(
            "resolved" if closes and m.status not in AWAITING_RESULT_CHECK else None
        )
    raise ValueError(f"the model has no rule for {a.kind}")
