"""Inputs, updates and views of ``RectificationWorkflow``: one hazard until it is closed.

A hazard found on a joint visit gets a deadline by severity; the enterprise submits proof
through its own endpoint, an inspector (or the department) re-inspects, and a hazard left
unrectified at its deadline goes to the department for enforcement.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from schemas.cases.workflow import EvidenceList, Note
from schemas.inspections.checklists import FormItem, RectificationPolicy, Severity
from schemas.inspections.workflow import EnterpriseRef
from schemas.platform.common import Actor, Evidence, HumanAction

RectificationStatus = Literal["rectifying", "proof_submitted", "escalated", "closed", "cancelled"]
OPEN_RECTIFICATION: tuple[RectificationStatus, ...] = ("rectifying", "proof_submitted", "escalated")


class RectificationInput(BaseModel):
    """One hazard, with the policy snapshot its deadlines come from."""

    rectification_id: str
    inspection_id: str
    enterprise: EnterpriseRef
    item: FormItem
    answer: str
    severity: Severity
    note: str | None = None
    evidence: list[Evidence] = []
    found_at: datetime
    found_by: Actor
    inspector_id: str | None = None
    policy: RectificationPolicy


class SubmitProofBody(BaseModel):
    """The enterprise shows the hazard is fixed: a note and at least one photo or document."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: Note
    evidence: EvidenceList = Field(min_length=1)


class SubmitProof(SubmitProofBody, HumanAction):
    """The update: ``SubmitProofBody`` with its actor and idempotency key."""


class ReinspectBody(BaseModel):
    """An inspector (or the department) checks the fix on site (复查)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passed: StrictBool  # true or false only: "no" or 0 must not pass (or fail) a check
    note: Note | None = None
    evidence: EvidenceList = []


class Reinspect(ReinspectBody, HumanAction):
    """The update: ``ReinspectBody`` with its actor and idempotency key.

    ``inspector_grid`` is the registry's grid of an inspector actor, set by the API (never
    by the caller: the body forbids it), so the validator can let the grid's inspectors
    re-inspect without I/O. None for a department, and in histories from before it.
    """

    inspector_grid: str | None = None


class EnforcementBody(BaseModel):
    """The department records what it did about an overdue hazard, maybe with a new term."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    measure: Literal["order", "fine", "suspension"]
    note: Note
    extra: timedelta | None = Field(default=None, gt=timedelta(0), le=timedelta(days=90))


class RecordEnforcement(EnforcementBody, HumanAction):
    """The update: ``EnforcementBody`` with its actor and idempotency key."""


class CancelRectificationBody(BaseModel):
    """A supervisor cancels a hazard recorded in error, with a reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Note


class CancelRectification(CancelRectificationBody, HumanAction):
    """The update: ``CancelRectificationBody`` with its actor and idempotency key."""


class RectificationOutcome(BaseModel):
    rectification_id: str
    status: RectificationStatus
    seq: int
    message: str


class RectificationEvent(BaseModel):
    seq: int
    kind: str
    status: RectificationStatus
    at: datetime
    actor: Actor | None = None
    note: str | None = None
    evidence: list[Evidence] = []
    data: dict[str, str] = {}


class RectificationSummary(BaseModel):
    """Where a hazard stands: the projection row and the search attributes."""

    rectification_id: str
    inspection_id: str
    enterprise_id: str
    grid_id: str
    department: str
    item_code: str
    answer: str
    severity: Severity
    status: RectificationStatus
    found_at: datetime
    deadline: datetime | None
    overdue: bool
    escalated: bool
    rework_count: int
    proof_count: int
    waiting_for: str
    closed_at: datetime | None


class RectificationView(RectificationSummary):
    timeline: list[RectificationEvent]


class RectificationProjection(BaseModel):
    summary: RectificationSummary
    seq: int


class RectificationResult(BaseModel):
    rectification_id: str
    status: Literal["closed", "cancelled"]
    escalated: bool
    rework_count: int
    ended_at: datetime
