"""The case-type catalog: what each kind of report is, who handles it and how fast.

The catalog is data (``schemas/data/catalog.json``), validated when it is loaded. At filing
a snapshot of the one entry that applies (a ``CasePolicy``) is copied into the workflow
input, so editing the catalog never changes the replay of a case already running.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.cases.satisfaction import Followup
from schemas.worktime.policy import CaseWorktime, Clock, OfficeHours

CatalogPath = Literal["steward_first", "department_direct", "both"]

CATALOG_FILE = Path(__file__).parents[1] / "data" / "catalog.json"


class Department(BaseModel):
    """A functional department (职能部门) that takes what a steward cannot solve."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^[a-z_]{2,40}$")
    name_zh: str
    name_en: str


# A stage deadline is ``workflow.now() + span``: an unbounded span (a catalog override with
# ``P999999999D``) overflows there and fails the workflow task of every case of that type.
MAX_SLA = timedelta(days=366)


class Sla(BaseModel):
    """Deadlines of each waiting stage, counted from the moment the stage starts."""

    model_config = ConfigDict(frozen=True)

    accept: timedelta
    resolve: timedelta
    department: timedelta
    verify: timedelta

    @model_validator(mode="after")
    def _positive(self) -> Sla:
        for name in ("accept", "resolve", "department", "verify"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"sla.{name} must be positive")
            if getattr(self, name) > MAX_SLA:
                raise ValueError(f"sla.{name} must be at most {MAX_SLA.days} days")
        return self


class CaseType(BaseModel):
    """One entry of the catalog."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^[a-z_]{2,40}$")
    name_zh: str
    name_en: str
    path: CatalogPath
    department: str
    priority: int = Field(ge=1, le=4, description="1 is the most urgent")
    sla: Sla
    skills: tuple[str, ...] = ()
    confidence_threshold: float = Field(default=0.8, gt=0, le=1)
    closes_on_recovery: bool = False
    clock: Clock = Field(
        default="working",
        description="working: limits count the acting office's working time; continuous: 24/7",
    )


class Escalation(BaseModel):
    """Town-wide dispatch and escalation rules, shared by every case type."""

    model_config = ConfigDict(frozen=True)

    max_dispatch_attempts: int = Field(default=3, ge=1, le=10)
    search_radii_km: tuple[float, ...] = (1.0, 3.0, 10.0)
    warn_fraction: float = Field(default=0.8, gt=0, lt=1)
    urge_grace_fraction: float = Field(default=0.5, gt=0, le=2)
    max_department_extension_fraction: float = Field(default=1.0, ge=0, le=5)
    max_department_extensions: int = Field(default=1, ge=0, le=5)

    @field_validator("search_radii_km")
    @classmethod
    def _increasing(cls, radii: tuple[float, ...]) -> tuple[float, ...]:
        if not radii or any(r <= 0 for r in radii) or list(radii) != sorted(set(radii)):
            raise ValueError("search_radii_km must be positive and strictly increasing")
        return radii


class CasePolicy(BaseModel):
    """The snapshot a workflow carries: its case type, its department and the rules."""

    model_config = ConfigDict(frozen=True)

    catalog_version: str
    case_type: CaseType
    department: Department
    escalation: Escalation
    departments: tuple[str, ...] = Field(
        default=(), description="every department code, so a supervisor's escalation can be checked"
    )
    worktime: CaseWorktime | None = Field(
        default=None, description="the clock and office hours; None: wall-clock limits"
    )


class Catalog(BaseModel):
    """The whole catalog, checked for internal consistency at load."""

    model_config = ConfigDict(frozen=True)

    version: str
    departments: tuple[Department, ...]
    case_types: tuple[CaseType, ...]
    escalation: Escalation = Escalation()
    hours: OfficeHours | None = None
    followup: Followup = Followup()  # the reporter's satisfaction follow-up (回访)

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        dept_codes = [d.code for d in self.departments]
        if len(set(dept_codes)) != len(dept_codes):
            raise ValueError("duplicate department code")
        type_codes = [t.code for t in self.case_types]
        if len(set(type_codes)) != len(type_codes):
            raise ValueError("duplicate case type code")
        for case_type in self.case_types:
            if case_type.department not in dept_codes:
                raise ValueError(
                    f"case type {case_type.code}: unknown department {case_type.department}"
                )
        if self.hours is not None and set(self.hours.departments) != set(dept_codes):
            missing = sorted(set(dept_codes) ^ set(self.hours.departments))
            raise ValueError(f"hours: departments differ from the catalog's: {missing}")
        return self

    def case_type(self, code: str) -> CaseType | None:
        return next((t for t in self.case_types if t.code == code), None)

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def policy_for(self, code: str) -> CasePolicy:
        """Snapshot for one case type; raises ``KeyError`` for an unknown code."""
        case_type = self.case_type(code)
        if case_type is None:
            raise KeyError(code)
        department = self.department(case_type.department)
        assert department is not None  # guaranteed by _consistent
        return CasePolicy(
            catalog_version=self.version,
            case_type=case_type,
            department=department,
            escalation=self.escalation,
            departments=tuple(d.code for d in self.departments),
            worktime=None
            if self.hours is None
            else CaseWorktime(clock=case_type.clock, hours=self.hours),
        )


def load_catalog(path: Path = CATALOG_FILE) -> Catalog:
    """Read and validate a catalog file."""
    return Catalog.model_validate(json.loads(path.read_text(encoding="utf-8")))


@lru_cache
def configured_catalog(
    override: Path | None = None, scale: float = 1.0, working_time: bool = False
) -> Catalog:
    """The shipped catalog tuned by an override file and a time scale, once per process
    and pair (``schemas.cases.catalog_tuning``: a demo town's short deadlines).

    ``working_time``: new cases count their limits in office hours (``schemas.worktime``);
    never with a time scale, where a demo's seconds-long limits have no office hours."""
    from schemas.cases.catalog_tuning import tune
    from schemas.worktime.policy import load_office_hours

    catalog = tune(load_catalog(), override, scale)
    if working_time and scale == 1.0:
        catalog = catalog.model_copy(update={"hours": load_office_hours()})
    return catalog


def default_catalog() -> Catalog:
    """The catalog this process serves: shipped, tuned by ``GRIDPLUS_CATALOG_OVERRIDE`` and
    ``GRIDPLUS_CATALOG_TIME_SCALE`` (settings), loaded once. API and worker both use it."""
    from settings import get_settings

    settings = get_settings()
    return configured_catalog(
        settings.catalog_override, settings.catalog_time_scale, settings.working_time
    )
