"""A small model of ``InspectionCampaignWorkflow``'s rules, from the README and the round's
brief: who may start a round and what a repeated start answers (``decide_start``), and
what its progress must say given the inspections it started (``CampModel.expected``):
at most ``max_in_flight`` booked ahead, the next one started whenever one is visited or
cancelled, overdue once the target passes with the round not done, ``rectifying`` once
every planned enterprise was visited or cancelled while hazards it found are open, and
completed exactly when they are all closed too (patch ``campaign-v2``, issue 13 C1: the
round counts every closing, so its query, ``GET /campaigns/{id}`` and the model agree on
``hazards_closed`` at every point; docs/campaigns.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.model.case_rules import Verdict
from tests.model.inspection_model import InspModel

FIELDS = ("status", "planned", "started", "in_flight", "visited", "cancelled",
          "hazards_found", "critical", "hazards_closed", "overdue")  # fmt: skip


def visited(m: InspModel) -> bool:
    return m.status in ("reported", "closed")


@dataclass
class CampModel:
    """What the model knows of one round: its plan's size, its limit, its target."""

    cid: str
    planned: int
    max_in_flight: int
    target_end: datetime
    started_with: tuple[str, str]  # the first request: (principal, body)
    overdue: bool = False
    done: bool = False  # every planned enterprise visited or cancelled
    critical: dict[str, int] = field(default_factory=dict)  # per inspection, at its visit

    def expected(self, inspections: list[InspModel], now: datetime) -> dict[str, Any]:
        """The progress the query must answer, the round's inspections as the model has them."""
        seen = [m for m in inspections if visited(m)]
        for m in seen:  # severities as they were when the visit was reported
            self.critical.setdefault(
                m.iid, sum(1 for o, s in m.answered.values() if o == "hazard" and s == "critical")
            )
        cancelled = sum(1 for m in inspections if m.status == "cancelled")
        started = min(self.planned, self.max_in_flight + len(seen) + cancelled)
        in_flight = started - len(seen) - cancelled
        if not self.done and now >= self.target_end:
            self.overdue = True  # the round's timer fired while inspections were in flight
        self.done = started == self.planned and in_flight == 0
        found = sum(m.hazards for m in seen)
        closed = sum(m.hazards_closed for m in inspections)
        status = "running" if not self.done else "rectifying" if closed < found else "completed"
        return {
            "status": status,
            "planned": self.planned,
            "started": started,
            "in_flight": in_flight,
            "visited": len(seen),
            "cancelled": cancelled,
            "hazards_found": found,
            "critical": sum(self.critical[m.iid] for m in seen),
            "hazards_closed": closed,
            "overdue": self.overdue,
        }


def request(role: str, actor_id: str, body: dict[str, Any]) -> tuple[str, str]:
    return f"{role}:{actor_id}", json.dumps(body, sort_keys=True, default=str)


def decide_start(c: CampModel, role: str, actor_id: str, body: dict[str, Any]) -> Verdict:
    """POST /campaigns again with the round's id: only the center; the same request is
    answered ``created: false``, another one under the same id is refused."""
    if role != "supervisor":
        return Verdict.refuse("forbidden", 403)
    if request(role, actor_id, body) != c.started_with:
        return Verdict.refuse("idempotency_key_reused")
    return Verdict.accept("not_created")
