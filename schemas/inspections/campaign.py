"""Inputs, state and progress of ``InspectionCampaignWorkflow``: one round of inspections.

``CampaignCarry`` is everything a run hands to the next when it continues as new, so the
round's history stays bounded however many enterprises it covers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool

from schemas.inspections.checklists import RiskLevel
from schemas.inspections.workflow import StartInspection
from schemas.platform.common import Actor, Identifier, Line

# A round's target window: positive and at most a year. The workflow adds it to its clock
# (``workflow.now() + target_window``); an unbounded one (``P999999999D``) overflows there
# and fails the workflow task forever, so it is a 422 naming the field before any start.
MAX_TARGET_WINDOW = timedelta(days=366)
TargetWindow = Annotated[timedelta, Field(gt=timedelta(0), le=MAX_TARGET_WINDOW)]


class CampaignFilter(BaseModel):
    """Which enterprises a round covers; empty means every active enterprise."""

    grid_ids: list[Identifier] = Field(default=[], max_length=1000)
    risk_levels: list[RiskLevel] = Field(default=[], max_length=10)
    industries: list[Annotated[Line, Field(max_length=40)]] = Field(default=[], max_length=200)
    hazardous_chemicals: StrictBool | None = None
    enterprise_ids: list[Identifier] = Field(default=[], max_length=20000)


class PlannedEnterprise(BaseModel):
    enterprise_id: str
    risk_level: RiskLevel
    grid_id: str


class CampaignPlan(BaseModel):
    """The round's order (high risk first) and the inspectors that pace it."""

    enterprises: list[PlannedEnterprise]
    inspectors: int


class PlannedStart(BaseModel):
    """One inspection to start, with what its search attributes need at start."""

    inspection: StartInspection
    grid_id: str
    risk_level: RiskLevel


class StartBatch(BaseModel):
    """Inspections the campaign starts in one activity (idempotent: ids are fixed)."""

    task_queue: str
    round_name: str
    items: list[PlannedStart]


class CampaignCarry(BaseModel):
    """State carried across continue-as-new."""

    campaign_id: str
    started_at: datetime
    plan: CampaignPlan
    max_in_flight: int
    cursor: int = 0
    in_flight: list[str] = []
    visited: int = 0
    cancelled: int = 0
    hazards_found: int = 0
    hazards_closed: int = 0
    critical: int = 0
    separate_visits: int = 0
    visit_minutes: int = 0
    first_visit_at: datetime | None = None
    last_visit_at: datetime | None = None
    overdue: bool = False
    runs: int = 1


class CampaignInput(BaseModel):
    """Start a round by hand (API) or from a Temporal schedule (then ``campaign_id`` is None)."""

    campaign_id: Identifier | None = None
    name: Annotated[str, Field(max_length=200)] = "joint safety inspection round"
    requested_by: Actor
    filter: CampaignFilter = CampaignFilter()
    target_window: TargetWindow = timedelta(days=30)
    max_in_flight: int | None = Field(default=None, ge=1, le=2000)
    lookahead_per_inspector: int = Field(default=2, ge=1, le=20)
    continue_every: int = Field(default=100, ge=2, le=1000)
    carry: CampaignCarry | None = None


class CampaignProgress(BaseModel):
    """The round so far: what the query answers and the Web UI's details show.

    ``status``: ``planning``, ``running`` (visits to make), ``rectifying`` (every visit made
    or cancelled, hazards still open: patch ``campaign-v2``), ``completed`` (every hazard
    closed too; rounds started before the patch completed with their last visit)."""

    campaign_id: str
    name: str
    status: Literal["planning", "running", "rectifying", "completed"]
    planned: int
    started: int
    in_flight: int
    visited: int
    cancelled: int
    hazards_found: int
    hazards_open: int
    hazards_closed: int
    critical: int
    joint_visits: int
    separate_visits: int
    visits_saved: int
    inspectors: int
    max_in_flight: int
    started_at: datetime | None
    first_visit_at: datetime | None
    last_visit_at: datetime | None
    round_time: timedelta | None
    target_end: datetime | None
    overdue: bool
    runs: int
    visit_minutes: int
