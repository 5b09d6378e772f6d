"""Inputs, updates, queries and messages of ``JointInspectionWorkflow``.

The registries and checklists are in ``schemas.inspections.checklists``; this module holds what goes
through Temporal: every human action is an update carrying the authenticated actor and an
idempotency key (``schemas.platform.common.HumanAction``), so a validator can refuse it before it
enters history and a retried request gets the first answer again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.cases.workflow import EvidenceList, Note
from schemas.inspections.checklists import (
    AnswerCode,
    FormItem,
    ItemCode,
    RiskLevel,
    Severity,
)
from schemas.platform.common import Actor, Evidence, GeoPoint, HumanAction, Identifier, Role

# Role of a multi-skilled inspector's token: their own role, not a steward's (a steward
# token used to read every inspection and hazard). The API also checks the principal
# against the inspector registry; workflows check the booked id (and, to re-inspect, the
# registry's grid the API puts in the action).
INSPECTOR_ROLE: Role = "inspector"
# Who "answers" the automatic items of a form: the enterprise's own safety records.
RECORDS = Actor(role="system", id="enterprise-records")

InspectionStatus = Literal[
    "preparing", "unassigned", "scheduled", "visiting", "reported", "closed", "cancelled"
]
OPEN_INSPECTION: tuple[InspectionStatus, ...] = (
    "preparing",
    "unassigned",
    "scheduled",
    "visiting",
    "reported",
)
Outcome = Literal["pass", "hazard"]
Channel = Literal["inspector", "enterprise", "department", "center"]


class EnterpriseRef(BaseModel):
    """What an inspection needs to know of its enterprise (a snapshot at preparation)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    grid_id: str
    location: GeoPoint
    industry: str
    risk_level: RiskLevel
    hazardous_chemicals: bool


class StartInspection(BaseModel):
    """Input of one joint inspection: which enterprise, asked by whom, for which round."""

    inspection_id: Identifier
    enterprise_id: Identifier
    requested_by: Actor
    requested_at: datetime
    reason: Annotated[str, Field(max_length=500)] = ""
    campaign_id: Identifier | None = None
    campaign_workflow_id: str | None = None


# ---- human actions -----------------------------------------------------------------------
class StartVisitBody(BaseModel):
    """The assigned inspector is on site (checks in)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    location: GeoPoint | None = None


class StartVisit(StartVisitBody, HumanAction):
    """The update: ``StartVisitBody`` with its actor and idempotency key."""


class ItemResult(BaseModel):
    """One checked item: pass, or a hazard with the checklist's answer, photo and note."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_code: ItemCode
    outcome: Outcome
    answer: AnswerCode | None = None
    severity: Severity | None = Field(
        default=None, description="only to raise the checklist's severity, never to lower it"
    )
    note: Note | None = None
    evidence: EvidenceList = []

    @model_validator(mode="after")
    def _shape(self) -> ItemResult:
        if self.outcome == "hazard" and self.answer is None:
            raise ValueError("a hazard needs the checklist answer that describes it")
        if self.outcome == "pass" and (self.answer is not None or self.severity is not None):
            raise ValueError("a passed item has no answer or severity")
        return self


class RecordResultsBody(BaseModel):
    """Results of one or more items (one at a time, or a batch synced from the app)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    items: list[ItemResult] = Field(min_length=1, max_length=100)


class RecordResults(RecordResultsBody, HumanAction):
    """The update: ``RecordResultsBody`` with its actor and idempotency key."""


class FinishVisitBody(BaseModel):
    """Every item is answered: the visit is over, sections and rectifications go out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: Note | None = None


class FinishVisit(FinishVisitBody, HumanAction):
    """The update: ``FinishVisitBody`` with its actor and idempotency key."""


class CancelInspectionBody(BaseModel):
    """A supervisor cancels an inspection that has not been visited (closed business...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Note


class CancelInspection(CancelInspectionBody, HumanAction):
    """The update: ``CancelInspectionBody`` with its actor and idempotency key."""


class InspectionOutcome(BaseModel):
    """What the caller of an update learns: the inspection's status after the action."""

    inspection_id: str
    status: InspectionStatus
    seq: int
    message: str


# ---- views -------------------------------------------------------------------------------
class ItemState(BaseModel):
    """One item of the form with its result (if any) and its rectification (if a hazard)."""

    item: FormItem
    outcome: Outcome | None = None
    answer: str | None = None
    severity: Severity | None = None
    note: str | None = None
    evidence: list[Evidence] = []
    source: Literal["inspector", "records"] = "inspector"
    by: Actor | None = None
    at: datetime | None = None
    rectification_id: str | None = None
    rectification_status: str | None = None


class InspectionEvent(BaseModel):
    """One timeline entry of an inspection."""

    seq: int
    kind: str
    status: InspectionStatus
    at: datetime
    actor: Actor | None = None
    note: str | None = None
    data: dict[str, str] = {}


class InspectionSummary(BaseModel):
    """Where an inspection stands: the projection row and the search attributes."""

    inspection_id: str
    enterprise_id: str
    enterprise_name: str
    grid_id: str
    risk_level: RiskLevel | None
    campaign_id: str | None
    status: InspectionStatus
    inspector_id: str | None
    departments: list[str]
    items_total: int
    items_answered: int
    hazards: int
    critical: int
    hazards_closed: int
    created_at: datetime
    visit_at: datetime | None
    visit_started_at: datetime | None
    visit_finished_at: datetime | None
    visit_minutes: int
    deadline: datetime | None
    overdue: bool
    attempts: int
    waiting_for: str


class InspectionView(InspectionSummary):
    """The live state with the whole form and timeline, answered by the query."""

    items: list[ItemState]
    timeline: list[InspectionEvent]


class InspectionProgress(BaseModel):
    """What an inspection tells its campaign (a signal): visited, cancelled, hazard closed."""

    inspection_id: str
    enterprise_id: str
    stage: Literal["visited", "cancelled", "hazard_closed"]
    hazards: int = 0
    critical: int = 0
    departments: int = 0
    visit_started_at: datetime | None = None
    visit_finished_at: datetime | None = None
    visit_minutes: int = 0


class InspectionResult(BaseModel):
    """The workflow's result: visited and every hazard rectified, or cancelled."""

    inspection_id: str
    status: Literal["closed", "cancelled"]
    hazards: int
    hazards_closed: int
    ended_at: datetime
