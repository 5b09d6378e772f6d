"""Request and response bodies of the HTTP API (workflow models live in
``schemas.cases.workflow``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.cases.views import CaseSummary, CaseView, TimelineEntry
from schemas.cases.workflow import CaseStatus
from schemas.platform.common import CaseSource, Evidence, Line, Text
from schemas.platform.coordinates import GeoInput


class CreateCase(BaseModel):
    """A report that should become a case."""

    model_config = ConfigDict(extra="forbid")

    case_type: Annotated[Line, Field(min_length=2, max_length=40, examples=["illegal_parking"])]
    location: GeoInput = Field(
        description="where, and in which system the phone or map read it (wgs84 by default; "
        "gcj02 for AMap/Tencent/WeCom/DingTalk, bd09 for Baidu): converted before placement"
    )
    description: Annotated[Text, Field(max_length=2000)] = ""
    address: Annotated[Line, Field(max_length=300)] | None = None
    evidence: Annotated[list[Evidence], Field(max_length=20)] = []
    source: CaseSource | None = Field(
        default=None, description="defaults from the caller's role (steward, camera, citizen...)"
    )

    @field_validator("location", mode="before")
    @classmethod
    def _point_as_input(cls, value: object) -> object:
        """A WGS-84 ``GeoPoint`` from the service's own code (Open311, devices) as is."""
        if isinstance(value, BaseModel) and not isinstance(value, GeoInput):
            return value.model_dump(include={"lat", "lon"})
        return value


class CaseLinks(BaseModel):
    self: str
    timeline: str
    temporal_ui: str


class CreatedCase(BaseModel):
    """Answer to a create: the case id and where to follow it."""

    case_id: str
    workflow_id: str
    status: CaseStatus
    grid_id: str
    micro_grid_id: str | None
    created: bool = Field(description="false when an Idempotency-Key repeated an earlier create")
    links: CaseLinks


class CaseDetail(CaseView):
    """A case as the API shows it: live from the workflow, or from the projection once ended."""

    live: bool
    links: CaseLinks


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


class Timeline(BaseModel):
    case_id: str
    entries: list[TimelineEntry]


class Problem(BaseModel):
    """Every 4xx/5xx body: a machine code, a message, and the fields at fault."""

    error: str
    message: str
    fields: list[str] = []


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
    checked_at: datetime | None = None
