"""Joint safety inspection: the enterprise and inspector registries and the checklists.

The five departments' checklists are data (``schemas/data/checklists.json``), validated at
load like the case-type catalog. ``Checklists.form_for`` merges the items that apply to
one enterprise into the single form a multi-skilled inspector (一员多能) fills in on one
visit; the form and the rules a workflow needs (deadlines by severity, the visit model) are
copied into the workflow's history by the activity that builds it, so editing the file
never changes the replay of an inspection already running.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.platform.common import GeoPoint, Identifier

CHECKLISTS_FILE = Path(__file__).parents[1] / "data" / "checklists.json"

InspectionDepartment = Literal[
    "emergency_management", "fire", "environment", "market_regulation", "economic_development"
]
Severity = Literal["minor", "major", "critical"]
RiskLevel = Literal["high", "medium", "low"]
RecordKind = Literal["hot_work", "confined_space", "hazchem_in", "hazchem_out"]

SEVERITY_RANK: dict[str, int] = {"minor": 1, "major": 2, "critical": 3}
# Search attribute GpPriority: 1 is the most urgent, as for cases.
SEVERITY_PRIORITY: dict[str, int] = {"critical": 1, "major": 2, "minor": 3}
RISK_PRIORITY: dict[str, int] = {"high": 1, "medium": 2, "low": 3}

ItemCode = Annotated[str, Field(pattern=r"^[a-z_]{2,40}\.[a-z0-9_]{2,40}$")]
AnswerCode = Annotated[str, Field(pattern=r"^[a-z0-9_]{2,40}$")]
EnterpriseId = Annotated[str, Field(min_length=1, max_length=24, pattern=r"^[A-Za-z0-9_-]+$")]


class Answer(BaseModel):
    """A way an item can fail on site, and how serious that is (the severity rule)."""

    model_config = ConfigDict(frozen=True)

    code: AnswerCode
    severity: Severity
    text_zh: str
    text_en: str


class Applicability(BaseModel):
    """Which enterprises an item concerns; empty ``industries`` means every industry."""

    model_config = ConfigDict(frozen=True)

    industries: tuple[str, ...] = ()
    hazardous_chemicals: bool | None = None


class ChecklistItem(BaseModel):
    """One line of a department's checklist."""

    model_config = ConfigDict(frozen=True)

    code: ItemCode
    department: InspectionDepartment
    text_zh: str
    text_en: str
    legal_basis: str = Field(min_length=2)
    answers: tuple[Answer, ...] = Field(min_length=1)
    applies: Applicability = Applicability()
    automatic: bool = Field(
        default=False, description="answered from the enterprise's own records, not on site"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ChecklistItem:
        if not self.code.startswith(self.department + "."):
            raise ValueError(f"item {self.code}: code must start with its department")
        codes = [a.code for a in self.answers]
        if len(set(codes)) != len(codes):
            raise ValueError(f"item {self.code}: duplicate answer code")
        return self

    def answer(self, code: str) -> Answer | None:
        return next((a for a in self.answers if a.code == code), None)

    def applies_to(self, industry: str, hazardous_chemicals: bool) -> bool:
        rule = self.applies
        if rule.industries and industry not in rule.industries:
            return False
        return rule.hazardous_chemicals is None or rule.hazardous_chemicals == hazardous_chemicals


# Spans a workflow adds to its clock (``workflow.now() + span``): bounded, because an unbounded
# one from a data file overflows there and fails the workflow task of every inspection.
MAX_SPAN = timedelta(days=366)
Span = Annotated[timedelta, Field(gt=timedelta(0), le=MAX_SPAN)]


class VisitModel(BaseModel):
    """How long a visit takes and when inspectors work: the basis of every booking."""

    model_config = ConfigDict(frozen=True)

    travel_minutes: int = Field(ge=0, le=240)
    per_item_minutes: int = Field(ge=1, le=60)
    slot_minutes: int = Field(ge=5, le=120)
    day_start: time
    day_end: time
    utc_offset_hours: int = Field(ge=-12, le=14)
    working_days: tuple[int, ...] = Field(min_length=1, description="ISO weekdays, 1 = Monday")
    results_grace: Span
    reminder_before: Span
    max_reassignments: int = Field(ge=0, le=10)
    unassigned_retry: Span

    def minutes_for(self, items: int) -> int:
        """Travel plus checking, rounded up to whole slots (appointments are on the slot)."""
        raw = self.travel_minutes + items * self.per_item_minutes
        return math.ceil(raw / self.slot_minutes) * self.slot_minutes


class RectificationPolicy(BaseModel):
    """Deadlines of a hazard's rectification, counted from the moment it was found."""

    model_config = ConfigDict(frozen=True)

    deadlines: dict[Severity, Span]
    reinspection: Span
    warn_fraction: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _every_severity(self) -> RectificationPolicy:
        if set(self.deadlines) != set(SEVERITY_RANK):
            raise ValueError("rectification.deadlines needs minor, major and critical")
        if any(span <= timedelta(0) for span in self.deadlines.values()):
            raise ValueError("rectification deadlines must be positive")
        return self


class RecordRule(BaseModel):
    """When an enterprise's own record of a safety operation is late or missing."""

    model_config = ConfigDict(frozen=True)

    kind: RecordKind
    item: ItemCode
    record_before_start: bool
    grace_minutes: int = Field(ge=0, le=10080)
    match_window_minutes: int = Field(ge=1, le=10080)


class FormItem(BaseModel):
    """One item of a merged form, as the inspector's app shows it."""

    model_config = ConfigDict(frozen=True)

    code: ItemCode
    department: InspectionDepartment
    text_zh: str
    text_en: str
    legal_basis: str
    answers: tuple[Answer, ...]
    automatic: bool = False

    def answer(self, code: str) -> Answer | None:
        return next((a for a in self.answers if a.code == code), None)


class Checklists(BaseModel):
    """The whole checklist file, checked for internal consistency at load."""

    model_config = ConfigDict(frozen=True)

    version: str
    departments: tuple[InspectionDepartment, ...]
    industries: tuple[str, ...]
    visit: VisitModel
    rectification: RectificationPolicy
    record_rules: tuple[RecordRule, ...]
    items: tuple[ChecklistItem, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Checklists:
        codes = [i.code for i in self.items]
        if len(set(codes)) != len(codes):
            raise ValueError("duplicate item code")
        for item in self.items:
            unknown = set(item.applies.industries) - set(self.industries)
            if unknown:
                raise ValueError(f"item {item.code}: unknown industries {sorted(unknown)}")
        for dept in self.departments:
            if not any(i.department == dept and not i.automatic for i in self.items):
                raise ValueError(f"department {dept} has no on-site item")
        by_code = {i.code: i for i in self.items}
        for rule in self.record_rules:
            target = by_code.get(rule.item)
            if target is None or not target.automatic:
                raise ValueError(f"record rule {rule.kind}: {rule.item} is not an automatic item")
            if not {"late_record", "missing_record"} <= {a.code for a in target.answers}:
                raise ValueError(f"item {rule.item} needs late_record and missing_record answers")
        return self

    def item(self, code: str) -> ChecklistItem | None:
        return next((i for i in self.items if i.code == code), None)

    def form_for(
        self, industry: str, hazardous_chemicals: bool, with_findings: Collection[str] = ()
    ) -> list[FormItem]:
        """Every on-site item that applies, in department order: one form for one visit.

        Automatic items (answered from the enterprise's records) are on the form only when
        the records gave a finding for them: nothing to look at otherwise.
        """
        order = {d: n for n, d in enumerate(self.departments)}
        chosen = [
            i
            for i in self.items
            if (
                i.code in with_findings
                if i.automatic
                else i.applies_to(industry, hazardous_chemicals)
            )
        ]
        chosen.sort(key=lambda i: order[i.department])
        return [FormItem(**i.model_dump(exclude={"applies"})) for i in chosen]


def load_checklists(path: Path = CHECKLISTS_FILE) -> Checklists:
    """Read and validate a checklist file."""
    return Checklists.model_validate(json.loads(path.read_text(encoding="utf-8")))


@lru_cache
def default_checklists() -> Checklists:
    """The checklists shipped with the service, loaded once per process."""
    return load_checklists()


# ---- registries ------------------------------------------------------------------------
class EnterpriseIn(BaseModel):
    """An enterprise as the registry imports it (CSV or JSON)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: EnterpriseId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    grid_id: Identifier
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    industry: Annotated[str, Field(min_length=2, max_length=40)]
    risk_level: RiskLevel
    hazardous_chemicals: bool = False
    contact_name: Annotated[str, Field(max_length=60)] = ""
    contact_phone: Annotated[str, Field(max_length=32)] = ""
    active: bool = True
    synthetic: bool = False

    @property
    def location(self) -> GeoPoint:
        return GeoPoint(lat=self.lat, lon=self.lon)


class InspectorIn(BaseModel):
    """A multi-skilled inspector (一员多能) and the departments they are qualified for."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=120)]
    phone: Annotated[str, Field(max_length=32)] = ""
    grid_id: Identifier
    qualifications: list[InspectionDepartment] = Field(min_length=1)
    on_duty: bool = True
    synthetic: bool = False
