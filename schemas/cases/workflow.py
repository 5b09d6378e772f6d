"""Inputs, updates, queries and results of ``CaseWorkflow``: one model each.

Every human action is an update carrying the authenticated actor and an idempotency key.
The workflow's validators read these to reject a wrong action before it enters history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from schemas.cases.catalog import CasePolicy
from schemas.platform.common import (
    Actor,
    CaseSource,
    Evidence,
    GeoPoint,
    HumanAction,
    Identifier,
    Text,
)
from schemas.platform.coordinates import GeoInput

CaseStatus = Literal[
    "reported",
    "filed",
    "dispatched",
    "accepted",
    "escalated",
    "department_handling",
    "returned",
    "resolved",
    "verified",
    "closed",
    "cancelled",
    "suspended",
]

OPEN_STATUSES: tuple[CaseStatus, ...] = (
    "reported",
    "filed",
    "dispatched",
    "accepted",
    "escalated",
    "department_handling",
    "returned",
    "resolved",
    "verified",
    "suspended",
)

# Timeline kinds that say a deadline passed or the center had to urge: a closed case with
# none of them was on time (the evaluation), and the worker's metrics count each as missed.
MISSED_KINDS: tuple[str, ...] = (
    "accept_timeout",
    "confirm_timeout",
    "resolve_overdue",
    "supervisor_urge",
    "department_head_escalation",
    "center_decision_overdue",
    "verification_overdue",
)

Note = Annotated[Text, Field(min_length=1, max_length=2000)]
EvidenceList = Annotated[list[Evidence], Field(max_length=20)]


class ReopenInfo(BaseModel):
    """Why and by whom a closed case runs again, and where its timeline left off."""

    by: Actor
    reason: Note
    previous_seq: int = Field(ge=0)
    previous_rework: int = Field(ge=0)


class OpenCaseInput(BaseModel):
    """Everything a case needs to run, fixed at filing (the policy is a snapshot)."""

    case_id: Identifier
    source: CaseSource
    reporter: Actor
    description: Annotated[str, Field(max_length=2000)] = ""
    location: GeoPoint
    # The point as the reporter's phone read it when that was not WGS-84 (gcj02, bd09):
    # ``location`` is its conversion, used for placement and dispatch; this is evidence.
    reported_location: GeoInput | None = None
    address: Annotated[str, Field(max_length=300)] | None = None
    grid_id: Identifier
    micro_grid_id: Identifier | None = None
    reported_at: datetime
    evidence: EvidenceList = []
    policy: CasePolicy
    reopen: ReopenInfo | None = None


class StewardTaskAction(HumanAction):
    """A steward's action on a task; ``attempt`` names the offer the button came from.

    A button from an earlier offer (before a reassignment or a rework) is refused even when
    it is the same steward, so an old message can never act on a newer task.
    """

    attempt: int | None = Field(default=None, ge=0)


class AcceptTaskBody(BaseModel):
    """A steward takes the task they were offered."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class AcceptTask(AcceptTaskBody, StewardTaskAction):
    """The update: ``AcceptTaskBody`` with its actor and idempotency key."""


class DeclineTaskBody(BaseModel):
    """A steward says no; the next candidate is asked at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Note | None = None


class DeclineTask(DeclineTaskBody, StewardTaskAction):
    """The update: ``DeclineTaskBody`` with its actor and idempotency key."""


class ReportArrivedBody(BaseModel):
    """A steward is on site (a timeline entry; no change of stage)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    location: GeoPoint | None = None


class ReportArrived(ReportArrivedBody, StewardTaskAction):
    """The update: ``ReportArrivedBody`` with its actor and idempotency key."""


class ReportResolvedBody(BaseModel):
    """The handler (steward) says the problem is solved, with evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: Note
    evidence: EvidenceList = []


class ReportResolved(ReportResolvedBody, StewardTaskAction):
    """The update: ``ReportResolvedBody`` with its actor and idempotency key."""


class RequestEscalationBody(BaseModel):
    """A steward cannot solve it: hand it to the department now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Note


class RequestEscalation(RequestEscalationBody, StewardTaskAction):
    """The update: ``RequestEscalationBody`` with its actor and idempotency key."""


class DepartmentAcceptBody(BaseModel):
    """The department takes the case."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DepartmentAccept(DepartmentAcceptBody, HumanAction):
    """The update: ``DepartmentAcceptBody`` with its actor and idempotency key."""


class DepartmentReportBody(BaseModel):
    """The department reports its result (反馈), with evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: Note
    evidence: EvidenceList = []


class DepartmentReport(DepartmentReportBody, HumanAction):
    """The update: ``DepartmentReportBody`` with its actor and idempotency key."""


class DepartmentReturnBody(BaseModel):
    """The department sends the case back to the linkage center, saying why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Note


class DepartmentReturn(DepartmentReturnBody, HumanAction):
    """The update: ``DepartmentReturnBody`` with its actor and idempotency key."""


class DepartmentExtensionBody(BaseModel):
    """The department asks for more time; granted within the policy's bounds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    extra: timedelta = Field(gt=timedelta(0), le=timedelta(days=30))
    reason: Note


class DepartmentExtension(DepartmentExtensionBody, HumanAction):
    """The update: ``DepartmentExtensionBody`` with its actor and idempotency key."""


class VerifyResultBody(BaseModel):
    """Someone other than the handler checks the result (核查)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passed: StrictBool  # true or false only: "no" or 0 must not pass (or fail) a check
    note: Note | None = None
    evidence: EvidenceList = []


class VerifyResult(VerifyResultBody, HumanAction):
    """The update: ``VerifyResultBody`` with its actor and idempotency key."""


class CancelCaseBody(BaseModel):
    """A supervisor cancels a duplicate or invalid case; the only other way a case ends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Note


class CancelCase(CancelCaseBody, HumanAction):
    """The update: ``CancelCaseBody`` with its actor and idempotency key."""


class ReassignCaseBody(BaseModel):
    """A supervisor sends the case to a steward (a given one, or the nearest) again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steward_id: Identifier | None = None
    reason: Note


class ReassignCase(ReassignCaseBody, HumanAction):
    """The update: ``ReassignCaseBody`` with its actor and idempotency key."""


class EscalateCaseBody(BaseModel):
    """A supervisor sends the case to a department now (its own, or another)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    department: Identifier | None = None
    reason: Note


class EscalateCase(EscalateCaseBody, HumanAction):
    """The update: ``EscalateCaseBody`` with its actor and idempotency key."""


class UrgeCaseBody(BaseModel):
    """A supervisor pushes whoever holds the case (督办)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: Note


class UrgeCase(UrgeCaseBody, HumanAction):
    """The update: ``UrgeCaseBody`` with its actor and idempotency key."""


class ExtendDeadlineBody(BaseModel):
    """A supervisor extends the current stage's deadline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    extra: timedelta = Field(gt=timedelta(0), le=timedelta(days=90))
    reason: Note


class ExtendDeadline(ExtendDeadlineBody, HumanAction):
    """The update: ``ExtendDeadlineBody`` with its actor and idempotency key."""


class AddEvidenceBody(BaseModel):
    """More evidence for an open case (a camera's re-detection, a citizen's photo)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    evidence: EvidenceList
    note: Note | None = None


class AddEvidence(AddEvidenceBody, HumanAction):
    """The update: ``AddEvidenceBody`` with its actor and idempotency key."""


class ReportRecoveryBody(BaseModel):
    """A sensor reports it is back to normal (smoke cleared, cover back in place)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: Note | None = None
    evidence: EvidenceList = []


class ReportRecovery(ReportRecoveryBody, HumanAction):
    """The update: ``ReportRecoveryBody`` with its actor and idempotency key."""


class MergeCaseBody(BaseModel):
    """A supervisor merges this duplicate into another open case (it ends as cancelled)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_case_id: Identifier
    reason: Note


class MergeCase(MergeCaseBody, HumanAction):
    """The update: ``MergeCaseBody`` with its actor and idempotency key."""


class ReopenCaseBody(BaseModel):
    """A supervisor reopens a closed case: a new run continues its timeline as rework."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Note


class ActionOutcome(BaseModel):
    """What the caller of an update learns: the case's status after the action."""

    case_id: str
    status: CaseStatus
    seq: int
    message: str
