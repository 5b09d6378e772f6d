"""Inputs and outputs of the activities a joint inspection calls.

Kept apart from ``schemas.inspections.workflow`` (what goes in and out of the workflow itself):
these are the form and the rules snapshotted into history by the activity that builds the
form, the inspector's booking, the messages and the projection batches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from schemas.inspections.checklists import (
    AnswerCode,
    FormItem,
    ItemCode,
    RectificationPolicy,
    VisitModel,
)
from schemas.inspections.workflow import Channel, EnterpriseRef, InspectionSummary, ItemState


class RecordFindingsRequest(BaseModel):
    """Look for missing or late safety-operation records since the enterprise's last visit."""

    inspection_id: str
    enterprise_id: str
    until: datetime


class RecordFinding(BaseModel):
    """A record that is late or missing: a hazard on an automatic item of the form."""

    item_code: ItemCode
    answer: AnswerCode
    note: str
    record_ids: list[int] = []


class PrepareRequest(BaseModel):
    inspection_id: str
    enterprise_id: str
    with_findings: list[str] = []


class InspectionPlan(BaseModel):
    """The merged form and the rules, snapshotted into history when the form is built."""

    enterprise: EnterpriseRef
    checklist_version: str
    items: list[FormItem]
    departments: list[str]
    visit_minutes: int
    visit: VisitModel
    rectification: RectificationPolicy


class BookingRequest(BaseModel):
    """Book the earliest qualified inspector for a visit; ``attempt`` makes it idempotent."""

    inspection_id: str
    attempt: int
    grid_id: str
    departments: list[str]
    earliest: datetime
    minutes: int
    exclude: list[str] = []
    visit: VisitModel


class Booking(BaseModel):
    """An inspector and a visit slot in their calendar."""

    inspector_id: str
    name: str
    grid_id: str
    attempt: int
    visit_at: datetime
    visit_end: datetime
    tier: int = Field(description="0 own grid, 1 neighbouring grid, 2 elsewhere in town")


class InspectorRelease(BaseModel):
    inspection_id: str
    attempt: int
    inspector_id: str
    free_slot: bool = Field(default=False, description="the visit never happened")


class PartyMessage(BaseModel):
    """A message to an inspector, an enterprise, a department or the linkage center."""

    ref_id: str
    seq: int
    channel: Channel
    recipient: str
    kind: Annotated[str, Field(pattern=r"^[a-z_]{2,32}$")]
    tag: str = Field(default="", description="tells apart messages of one kind at one step")
    context: dict[str, str] = {}


class InspectionProjection(BaseModel):
    """The summary after the last change, and the form's results once the visit is over."""

    summary: InspectionSummary
    seq: int
    findings: list[ItemState] = []


class DepartmentSection(BaseModel):
    """One department's part of a joint visit: its items, results and hazards."""

    inspection_id: str
    department: str
    enterprise: EnterpriseRef
    inspector_id: str
    visited_at: datetime
    items: list[ItemState]
    hazards: int
    critical: int


class SectionBatch(BaseModel):
    """The sections of one visit, one per department, sent by one activity."""

    sections: list[DepartmentSection]
