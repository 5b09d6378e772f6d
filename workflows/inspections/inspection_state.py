"""The state of one joint inspection and the rules that say which action is allowed when.

Pure and deterministic, like ``workflows.cases.state``: the update validators of
``JointInspectionWorkflow`` call ``check_*``; a rule that fails raises ``ActionRejected``
and the action never enters the workflow's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from temporalio import workflow

from workflows.kit.ledger import ActionRejected

# Passed through like every other workflow module's schemas, so that models built here and
# in ``workflows.inspections.inspection_base`` are the same classes under any sandbox
# configuration.
with workflow.unsafe.imports_passed_through():
    from schemas.inspections.activity import Booking, InspectionPlan, RecordFinding
    from schemas.inspections.checklists import SEVERITY_RANK, Severity
    from schemas.inspections.workflow import (
        INSPECTOR_ROLE,
        OPEN_INSPECTION,
        RECORDS,
        InspectionEvent,
        InspectionOutcome,
        InspectionStatus,
        InspectionSummary,
        InspectionView,
        ItemState,
        RecordResults,
        StartInspection,
    )
    from schemas.platform.common import Actor


@dataclass
class InspectionState:
    """Everything the workflow knows about its inspection."""

    inp: StartInspection
    created_at: datetime
    plan: InspectionPlan | None = None
    status: InspectionStatus = "preparing"
    booking: Booking | None = None
    attempts: int = 0
    excluded: list[str] = field(default_factory=list)
    items: dict[str, ItemState] = field(default_factory=dict)
    visit_started_at: datetime | None = None
    visit_finished_at: datetime | None = None
    deadline: datetime | None = None
    overdue: bool = False
    waiting_for: str = "the form to be built"
    finish_requested: bool = False
    findings_dirty: bool = True
    hazards_closed: int = 0
    timeline: list[InspectionEvent] = field(default_factory=list)
    outcomes: dict[str, InspectionOutcome] = field(default_factory=dict)

    # ---- reading -------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.status in OPEN_INSPECTION

    def hazards(self) -> list[ItemState]:
        return [s for s in self.items.values() if s.outcome == "hazard"]

    def summary(self) -> InspectionSummary:
        plan = self.plan
        hazards = self.hazards()
        booking = self.booking
        return InspectionSummary(
            inspection_id=self.inp.inspection_id,
            enterprise_id=self.inp.enterprise_id,
            enterprise_name=plan.enterprise.name if plan else "",
            grid_id=plan.enterprise.grid_id if plan else "",
            risk_level=plan.enterprise.risk_level if plan else None,
            campaign_id=self.inp.campaign_id,
            status=self.status,
            inspector_id=booking.inspector_id if booking else None,
            departments=list(plan.departments) if plan else [],
            items_total=len(self.items),
            items_answered=sum(1 for s in self.items.values() if s.outcome is not None),
            hazards=len(hazards),
            critical=sum(1 for s in hazards if s.severity == "critical"),
            hazards_closed=self.hazards_closed,
            created_at=self.created_at,
            visit_at=booking.visit_at if booking else None,
            visit_started_at=self.visit_started_at,
            visit_finished_at=self.visit_finished_at,
            visit_minutes=plan.visit_minutes if plan else 0,
            deadline=self.deadline,
            overdue=self.overdue,
            attempts=self.attempts,
            waiting_for=self.waiting_for,
        )

    def view(self) -> InspectionView:
        return InspectionView(
            **self.summary().model_dump(),
            items=list(self.items.values()),
            timeline=list(self.timeline),
        )

    # ---- writing -------------------------------------------------------------------
    def record(
        self,
        now: datetime,
        kind: str,
        *,
        status: InspectionStatus | None = None,
        actor: Actor | None = None,
        note: str | None = None,
        data: dict[str, str] | None = None,
    ) -> InspectionEvent:
        if status is not None:
            self.status = status
        entry = InspectionEvent(
            seq=len(self.timeline) + 1,
            kind=kind,
            status=self.status,
            at=now,
            actor=actor,
            note=note,
            data=dict(data or {}),
        )
        self.timeline.append(entry)
        return entry

    def outcome(self, key: str, message: str) -> InspectionOutcome:
        """Remember the answer to an action so that a retry with the same key gets it again."""
        result = InspectionOutcome(
            inspection_id=self.inp.inspection_id,
            status=self.status,
            seq=len(self.timeline),
            message=message,
        )
        self.outcomes[key] = result
        return result

    def set_plan(self, plan: InspectionPlan, findings: list[RecordFinding], now: datetime) -> None:
        """The merged form; items the records already answered are hazards from the start."""
        self.plan = plan
        self.items = {item.code: ItemState(item=item) for item in plan.items}
        for finding in findings:
            slot = self.items.get(finding.item_code)
            rule = slot.item.answer(finding.answer) if slot else None
            if slot is None or rule is None:
                continue
            slot.outcome, slot.answer, slot.severity = "hazard", rule.code, rule.severity
            slot.note, slot.source, slot.by, slot.at = finding.note, "records", RECORDS, now

    def apply_results(self, action: RecordResults, now: datetime) -> list[ItemState]:
        """Store the results; return the items that became critical hazards just now."""
        newly_critical = []
        for result in action.items:
            slot = self.items[result.item_code]
            was_critical = slot.severity == "critical"
            severity: Severity | None = None
            if result.outcome == "hazard":
                assert result.answer is not None  # checked by the validator
                rule = slot.item.answer(result.answer)
                assert rule is not None
                severity = rule.severity
                if result.severity and SEVERITY_RANK[result.severity] > SEVERITY_RANK[severity]:
                    severity = result.severity
            slot.outcome, slot.answer, slot.severity = result.outcome, result.answer, severity
            slot.note, slot.evidence = result.note, list(result.evidence)
            slot.by, slot.at, slot.source = action.actor, now, "inspector"
            if severity == "critical" and not was_critical:
                newly_critical.append(slot)
        return newly_critical

    # ---- rules ---------------------------------------------------------------------
    def check_open(self) -> None:
        if not self.is_open:
            raise ActionRejected(f"inspection is {self.status}", "inspection_ended")

    def check_inspector(self, actor: Actor) -> None:
        """Only the inspector the visit is booked with acts on the form."""
        self.check_open()
        if actor.role != INSPECTOR_ROLE:
            raise ActionRejected(f"a {actor.role} cannot inspect", "forbidden_role")
        if self.booking is None or self.booking.inspector_id != actor.id:
            raise ActionRejected("this inspection is not assigned to you", "not_assigned")

    def check_start(self, actor: Actor) -> None:
        self.check_inspector(actor)
        if self.status == "visiting":
            raise ActionRejected("the visit has already started", "already_done")
        if self.status != "scheduled":
            raise ActionRejected(
                f"not allowed while the inspection is {self.status}", "wrong_stage"
            )

    def check_results(self, action: RecordResults) -> None:
        self.check_inspector(action.actor)
        if self.status != "visiting":
            raise ActionRejected("start the visit first", "wrong_stage")
        codes = [r.item_code for r in action.items]
        if len(set(codes)) != len(codes):
            raise ActionRejected("an item appears twice in one submission", "duplicate_item")
        unknown = sorted(c for c in codes if c not in self.items)
        if unknown:
            raise ActionRejected(f"not on this form: {', '.join(unknown)}", "unknown_item")
        for result in action.items:
            slot = self.items[result.item_code]
            if slot.item.automatic:
                raise ActionRejected(
                    f"{result.item_code} is answered from the enterprise's records",
                    "automatic_item",
                )
            if result.answer is None:
                continue
            rule = slot.item.answer(result.answer)
            if rule is None:
                raise ActionRejected(
                    f"{result.item_code} has no answer {result.answer}", "unknown_answer"
                )
            if result.severity and SEVERITY_RANK[result.severity] < SEVERITY_RANK[rule.severity]:
                raise ActionRejected(
                    f"the checklist makes {result.item_code}/{rule.code} at least {rule.severity}",
                    "severity_too_low",
                )

    def check_finish(self, actor: Actor) -> None:
        self.check_inspector(actor)
        if self.status != "visiting":
            raise ActionRejected(
                f"not allowed while the inspection is {self.status}", "wrong_stage"
            )
        missing = [c for c, s in self.items.items() if s.outcome is None]
        if missing:
            raise ActionRejected(
                f"{len(missing)} item(s) unanswered, first {missing[0]}", "incomplete"
            )

    def check_cancel(self, actor: Actor) -> None:
        self.check_open()
        if actor.role != "supervisor":
            raise ActionRejected("only the linkage center cancels an inspection", "forbidden_role")
        if self.status in ("visiting", "reported") or self.finish_requested:
            raise ActionRejected(
                "the visit has begun: its hazards must be rectified", "wrong_stage"
            )
