"""Request and response bodies of the inspection API (workflow models are elsewhere)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.inspections.campaign import CampaignFilter, TargetWindow
from schemas.inspections.rectification import RectificationSummary, RectificationView
from schemas.inspections.workflow import InspectionSummary, InspectionView
from schemas.platform.common import Identifier, Line, Text


class StartInspectionBody(BaseModel):
    """Inspect one enterprise now (outside a round: a complaint, an accident nearby...)."""

    model_config = ConfigDict(extra="forbid")

    enterprise_id: Identifier
    reason: Annotated[Text, Field(max_length=500)] = ""


class InspectionLinks(BaseModel):
    self: str
    temporal_ui: str


class StartedInspection(BaseModel):
    inspection_id: str
    workflow_id: str
    created: bool = Field(description="false when an Idempotency-Key repeated an earlier start")
    links: InspectionLinks


class InspectionDetail(InspectionView):
    """Live from the workflow while it runs; from the projection once it has ended."""

    live: bool


class InspectionPage(BaseModel):
    items: list[InspectionSummary]
    total: int
    limit: int
    offset: int


class RectificationDetail(RectificationView):
    live: bool


class HazardPage(BaseModel):
    items: list[RectificationSummary]
    total: int


# A round's inspections are ``JI-<enterprise id>-<campaign id>`` (its workflow names them), an
# Identifier of 64 characters at most: with enterprise ids of up to 24, 36 are left. A longer
# round id used to start a round whose every workflow task then failed on that inspection id.
CAMPAIGN_ID_MAX = 64 - len("JI-") - 24 - len("-")


class StartCampaignBody(BaseModel):
    """Start a round by hand (a schedule starts the regular ones)."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: Annotated[Identifier, Field(max_length=CAMPAIGN_ID_MAX)]
    name: Annotated[Line, Field(max_length=200)] = "joint safety inspection round"
    filter: CampaignFilter = CampaignFilter()
    target_window: TargetWindow = timedelta(days=30)
    max_in_flight: int | None = Field(default=None, ge=1, le=2000)


class StartedCampaign(BaseModel):
    campaign_id: str
    workflow_id: str
    created: bool


# ---- reports -----------------------------------------------------------------------------
class EnterpriseReport(BaseModel):
    enterprise_id: str
    name: str
    grid_id: str
    risk_level: str
    inspections: int
    last_visit_at: datetime | None
    hazards: int
    open: int
    closed: int
    escalated: int
    overdue: int


class DepartmentInspectionReport(BaseModel):
    department: str
    inspections: int
    items_checked: int
    hazards: int
    critical: int
    major: int
    minor: int
    open: int
    closed: int
    escalated: int
    avg_hours_to_close: float | None


class GridReport(BaseModel):
    grid_id: str
    enterprises: int
    inspected: int
    hazards: int
    open: int
    closed: int
    overdue: int


class RoundReport(BaseModel):
    """One round: how long it took and the visits the joint inspection saved."""

    campaign_id: str
    enterprises_visited: int
    inspectors: int
    started_at: datetime | None
    last_visit_at: datetime | None
    round_time: timedelta | None
    working_days: int
    joint_visits: int
    separate_visits: int
    visits_saved: int
    visits_per_enterprise_joint: float
    visits_per_enterprise_separate: float
    separate_rounds_model_end: datetime | None
    separate_rounds_model_working_days: int
    hazards: int
    hazards_closed: int
