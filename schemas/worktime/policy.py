"""Which clock a case's limits run on, and the hours each acting office keeps, as data.

The catalog says per case type whether its limits count **working time** of the acting
office (the default, GB/T 30428) or run **continuously** (emergencies: fire, smoke alarms,
gas, flooding keep running 24/7). ``OfficeHours`` (``schemas/data/working_hours.json``) gives
the hours of each department, of the steward teams (duty hours) and of the linkage center.
At filing the policy snapshot gets a ``CaseWorktime``: the clock and every office's rules, so
a reassignment to another department still finds its hours in the snapshot. The national
calendar is *not* in the snapshot: it comes from an activity at each stage (see
docs/working-time.md, "Replay safety").
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, model_validator

from schemas.worktime.models import CalendarSlice, WorkingRules

Clock = Literal["working", "continuous"]
# Who must act in a stage: the department of the case, the steward teams, the center.
Office = Literal["department", "steward", "center"]

HOURS_FILE = Path(__file__).parent.parent / "data" / "working_hours.json"


class OfficeHours(BaseModel):
    """Every office's hours: per department, the steward teams' duty, the linkage center."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    departments: dict[str, WorkingRules]
    stewards: WorkingRules
    center: WorkingRules

    @model_validator(mode="after")
    def _named(self) -> Self:
        for code, rules in self.departments.items():
            if rules.office != code:
                raise ValueError(f"departments.{code}: office is {rules.office!r}, not {code!r}")
        return self


@lru_cache
def load_office_hours(path: Path = HOURS_FILE) -> OfficeHours:
    """The shipped hours, validated once per process."""
    return OfficeHours.model_validate(json.loads(path.read_text(encoding="utf-8")))


class CaseWorktime(BaseModel):
    """The part of a case's policy snapshot that says how its limits count time."""

    model_config = ConfigDict(frozen=True)

    clock: Clock = "working"
    hours: OfficeHours

    def rules_for(self, office: Office, department: str) -> WorkingRules | None:
        """The acting office's rules; None when the limit runs on the wall clock."""
        if self.clock == "continuous":
            return None
        if office == "steward":
            rules = self.hours.stewards
        elif office == "center":
            rules = self.hours.center
        else:
            found = self.hours.departments.get(department)
            if found is None:
                return None
            rules = found
        return None if rules.always_open else rules


class SliceRequest(BaseModel):
    """Ask the calendar activity for the slice one office needs from ``at`` on.

    With ``team`` (a steward stage since ``worktime-v2``): ``rules`` is the default roster
    from the snapshot, and the answer carries the team's own roster when it has one.
    """

    rules: WorkingRules
    at: datetime
    team: str | None = None


class SliceAnswer(BaseModel):
    """The slice (the national calendar as loaded at that moment), kept in history."""

    slice: CalendarSlice


def as_span(span: timedelta) -> timedelta | int:
    """A catalog limit in working time: whole days (``P3D``) are N working days (close of
    business of the Nth working day after the start), anything else working hours."""
    if span >= timedelta(days=1) and span % timedelta(days=1) == timedelta(0):
        return span // timedelta(days=1)
    return span
