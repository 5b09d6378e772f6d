"""The plumbing of ``RectificationWorkflow``: state, timeline, visibility, messages, actions.

Split from ``rectification.py`` (as ``workflows.cases.base`` from the case workflow) so that
the workflow there reads as the rectification loop and its actions and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from workflows.kit.lanes import Lanes
from workflows.kit.ledger import ActionRejected, Ledger
from workflows.kit.projection import Projector
from workflows.kit.waiting import Waiter

with workflow.unsafe.imports_passed_through():
    from constants import (
        ACT_NOTIFY_PARTY,
        ACT_PROJECT_RECTIFICATION,
        SA_DEADLINE,
        SA_OVERDUE,
        SA_REWORK,
        SA_STATUS,
    )
    from schemas.inspections.activity import PartyMessage
    from schemas.inspections.rectification import (
        OPEN_RECTIFICATION,
        RectificationEvent,
        RectificationInput,
        RectificationOutcome,
        RectificationProjection,
        RectificationStatus,
        RectificationSummary,
    )
    from schemas.inspections.workflow import Channel
    from schemas.platform.common import Actor, HumanAction, town_time

# Projection writes of inspections and hazards wait a minute of local retries before a
# durable timer (cases wait 4 s): what their histories recorded.
PROJECTION_RETRY_THRESHOLD = timedelta(minutes=1)

A = TypeVar("A", bound=HumanAction)


class RectificationBase:
    """Everything a rectification knows, and the helpers its loop and actions share."""

    def __init__(self, inp: RectificationInput) -> None:
        self.inp = inp
        self.status: RectificationStatus = "rectifying"
        self.deadline: datetime | None = inp.found_at + inp.policy.deadlines[inp.severity]
        self.overdue = False
        self.escalated = False
        self.rework = 0
        self.proofs = 0
        self.verdict: bool | None = None
        self.waiting_for = "the enterprise to rectify and submit proof"
        self.closed_at: datetime | None = None
        self.timeline: list[RectificationEvent] = []
        self.keys: Ledger[RectificationOutcome] = Ledger()  # per key: request, answer
        self.lanes = Lanes()
        self.waiter = Waiter()
        self.projector = Projector(
            ACT_PROJECT_RECTIFICATION,
            self._projection,
            local_retry_threshold=PROJECTION_RETRY_THRESHOLD,
        )
        self._visible: list[Any] | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_RECTIFICATION

    # ---- timeline, visibility, messages --------------------------------------------
    def emit(
        self,
        kind: str,
        *,
        status: RectificationStatus | None = None,
        actor: Actor | None = None,
        note: str | None = None,
        evidence: list[Any] | None = None,
        data: dict[str, str] | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        entry = RectificationEvent(
            seq=len(self.timeline) + 1,
            kind=kind,
            status=self.status,
            at=workflow.now(),
            actor=actor,
            note=note,
            evidence=list(evidence or []),
            data=dict(data or {}),
        )
        self.timeline.append(entry)
        self.sync()

    def waiting(self, what: str) -> None:
        self.waiting_for = what
        self.sync()

    def sync(self) -> None:
        self.projector.touch()
        s = self.summary()
        values: list[Any] = [s.status, s.deadline, s.overdue, s.rework_count, s.waiting_for]
        if values == self._visible:
            return
        self._visible = values
        updates: list[SearchAttributeUpdate[Any]] = [
            SA_STATUS.value_set(s.status),
            SA_OVERDUE.value_set(s.overdue),
            SA_REWORK.value_set(s.rework_count),
            SA_DEADLINE.value_set(s.deadline)
            if s.deadline and self.is_open
            else SA_DEADLINE.value_unset(),
        ]
        workflow.upsert_search_attributes(updates)
        until = f" until {town_time(s.deadline)}" if s.deadline else ""
        workflow.set_current_details(
            f"**{s.status}** · {s.severity} · {s.item_code}/{s.answer} · "
            f"{s.enterprise_id} {self.inp.enterprise.name} · grid {s.grid_id}\n\n"
            f"Waiting for {s.waiting_for}{until}{' — OVERDUE' if s.overdue else ''}. "
            f"Proofs {s.proof_count}, rework {s.rework_count}, escalated {s.escalated}."
            if self.is_open
            else f"**{s.status}** after {len(self.timeline)} entries; rework {s.rework_count}."
        )

    def tell(self, channel: Channel, recipient: str, kind: str) -> None:
        inp = self.inp
        context = {
            "rectification_id": inp.rectification_id,
            "inspection_id": inp.inspection_id,
            "enterprise_id": inp.enterprise.id,
            "enterprise_name": inp.enterprise.name,
            "item": f"{inp.item.text_zh}（{inp.item.code}）",
            "severity": inp.severity,
            "deadline": town_time(self.deadline),
        }
        message = PartyMessage(
            ref_id=inp.rectification_id,
            seq=len(self.timeline),
            channel=channel,
            recipient=recipient,
            kind=kind,
            context=context,
        )
        self.lanes.put(f"{channel}:{recipient}", ACT_NOTIFY_PARTY, message)

    def summary(self) -> RectificationSummary:
        inp = self.inp
        return RectificationSummary(
            rectification_id=inp.rectification_id,
            inspection_id=inp.inspection_id,
            enterprise_id=inp.enterprise.id,
            grid_id=inp.enterprise.grid_id,
            department=inp.item.department,
            item_code=inp.item.code,
            answer=inp.answer,
            severity=inp.severity,
            status=self.status,
            found_at=inp.found_at,
            deadline=self.deadline,
            overdue=self.overdue,
            escalated=self.escalated,
            rework_count=self.rework,
            proof_count=self.proofs,
            waiting_for=self.waiting_for,
            closed_at=self.closed_at,
        )

    def _projection(self) -> RectificationProjection:
        return RectificationProjection(summary=self.summary(), seq=len(self.timeline))

    # ---- actions -------------------------------------------------------------------
    def guard(self, action: HumanAction, rule: Callable[[], object]) -> None:
        """Validator body: an exact repeat passes (even once ended), a reused key is refused
        (``Ledger``), a new action must find the hazard open and pass ``rule``."""

        def open_and_allowed() -> None:
            if not self.is_open:
                raise ActionRejected(f"rectification is {self.status}", "rectification_ended")
            rule()

        self.keys.guard(action, open_and_allowed)

    def act(self, action: A, apply: Callable[[A], str]) -> RectificationOutcome:
        return self.keys.act(action, lambda a: self._answer(a, apply))

    def _answer(self, action: A, apply: Callable[[A], str]) -> RectificationOutcome:
        message = apply(action)
        return RectificationOutcome(
            rectification_id=self.inp.rectification_id,
            status=self.status,
            seq=len(self.timeline),
            message=message,
        )
