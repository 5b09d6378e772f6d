"""Working-time data: office hours, the national calendar, and the slice a case carries.

Deadlines in Chinese urban management count working time of the office that must act
(GB/T 30428), under the State Council's yearly holiday notice, which moves working days
onto weekends (调休). All of it is data, validated here so an impossible entry is refused
with a message naming it, and small enough to travel in a case's policy snapshot.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

# Asia/Shanghai has had no daylight saving since 1991: a fixed offset is exact for every
# year a slice can cover, and needs no tz database inside the workflow sandbox.
TOWN_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_MMDD = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def _minutes(text: str) -> int:
    match = _HHMM.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time HH:MM")
    value = int(match[1]) * 60 + int(match[2])
    if value > 24 * 60:
        raise ValueError(f"{text!r} is after 24:00")
    return value


class Period(BaseModel):
    """One opening period of a day, local time; `end` may be 24:00 (a duty running to midnight)."""

    model_config = ConfigDict(frozen=True)

    start: str = Field(examples=["08:30"])
    end: str = Field(examples=["12:00"])

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if _minutes(self.start) >= _minutes(self.end):
            raise ValueError(f"period {self.start}-{self.end} does not end after it starts")
        return self

    @property
    def start_minute(self) -> int:
        return _minutes(self.start)

    @property
    def end_minute(self) -> int:
        return _minutes(self.end)


def _check_periods(periods: list[Period], owner: str) -> list[Period]:
    if not periods:
        raise ValueError(f"{owner} has no opening period (use always_open for a 24/7 office)")
    ordered = sorted(periods, key=lambda p: p.start_minute)
    for before, after in pairwise(ordered):
        if after.start_minute < before.end_minute:
            first, second = f"{before.start}-{before.end}", f"{after.start}-{after.end}"
            raise ValueError(f"{owner}: periods {first} and {second} overlap")
    return ordered


class Season(BaseModel):
    """A dated variant of the hours (summer hours), recurring each year, both ends inclusive."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, examples=["summer"])
    first_day: str = Field(examples=["05-01"], description="MM-DD, inclusive")
    last_day: str = Field(examples=["09-30"], description="MM-DD, inclusive")
    periods: list[Period]

    @field_validator("first_day", "last_day")
    @classmethod
    def _month_day(cls, value: str) -> str:
        if _MMDD.match(value) is None:
            raise ValueError(f"{value!r} is not a month-day MM-DD")
        date.fromisoformat(f"2024-{value}")  # a leap year: refuses 02-30 and 04-31
        return value

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if self.first_day > self.last_day:
            raise ValueError(f"season {self.name}: {self.first_day} is after {self.last_day}")
        object.__setattr__(self, "periods", _check_periods(self.periods, f"season {self.name}"))
        return self

    def covers(self, day: date) -> bool:
        return self.first_day <= day.strftime("%m-%d") <= self.last_day


class WorkingRules(BaseModel):
    """When one office (or steward team) counts as working.

    `days="working_days"`: the national calendar decides (weekends, holidays, make-up
    days); `days="every_day"`: a duty roster that ignores it. `always_open` (traffic
    police, fire) makes every computation wall-clock time.
    """

    model_config = ConfigDict(frozen=True)

    office: str = Field(min_length=1, examples=["urban_management"])
    always_open: bool = False
    days: Literal["working_days", "every_day"] = "working_days"
    periods: list[Period] = Field(default_factory=list)
    seasons: list[Season] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if self.always_open:
            if self.periods or self.seasons:
                raise ValueError(f"{self.office}: an always-open office lists no periods")
            return self
        object.__setattr__(self, "periods", _check_periods(self.periods, self.office))
        object.__setattr__(self, "seasons", sorted(self.seasons, key=lambda s: s.first_day))
        for one, other in pairwise(self.seasons):
            if other.first_day <= one.last_day:
                raise ValueError(f"{self.office}: seasons {one.name} and {other.name} overlap")
        return self

    def periods_on(self, day: date) -> list[Period]:
        for season in self.seasons:
            if season.covers(day):
                return season.periods
        return self.periods


class YearSchedule(BaseModel):
    """One year of the State Council's notice: holidays (放假) and make-up working days (调休上班).

    `holidays` lists every day off of each holiday span as the notice states it, weekend
    days inside a span included; `workdays` lists the weekend days that become working days.
    """

    model_config = ConfigDict(frozen=True)

    year: int = Field(ge=2000, le=2100)
    holidays: list[date]
    workdays: list[date] = Field(default_factory=list)
    source: str = Field(default="file", description="where the entries come from")

    @model_validator(mode="after")
    def _valid(self) -> Self:
        for label, days in (("holiday", self.holidays), ("make-up working day", self.workdays)):
            seen: set[date] = set()
            for day in days:
                if day.year != self.year:
                    raise ValueError(f"{label} {day} is outside the year {self.year}")
                if day in seen:
                    raise ValueError(f"{label} {day} is listed twice")
                seen.add(day)
        for day in set(self.holidays) & set(self.workdays):
            raise ValueError(f"{day} is both a holiday and a make-up working day")
        for day in self.workdays:
            if day.weekday() < 5:
                raise ValueError(f"make-up working day {day} is a {day:%A}, already a working day")
        if not self.holidays:
            raise ValueError(f"year {self.year} lists no holiday (New Year's Day at least)")
        object.__setattr__(self, "holidays", sorted(self.holidays))
        object.__setattr__(self, "workdays", sorted(self.workdays))
        return self

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def non_working_days(self) -> list[date]:
        """Every day off of the year: weekends not made up, and the holidays."""
        day, out = date(self.year, 1, 1), []
        while day.year == self.year:
            if not self.is_working_day(day):
                out.append(day)
            day += timedelta(days=1)
        return out


class HorizonError(ValueError):
    """A computation needs a day the slice does not cover: ask an activity instead."""


class CalendarSlice(BaseModel):
    """What a case's policy snapshot carries: its office's rules and the years it may need.

    `years` must be consecutive; the horizon is their first and last day, local time.
    `version` is a hash of the data, so any change of hours or of a notice changes it.
    """

    model_config = ConfigDict(frozen=True)

    rules: WorkingRules
    years: list[YearSchedule]

    @model_validator(mode="after")
    def _consecutive(self) -> Self:
        if not self.years:
            if self.rules.always_open or self.rules.days == "every_day":
                return self  # a roster or a 24/7 office never reads the national calendar
            raise ValueError("a calendar slice covers at least one year")
        ordered = sorted(self.years, key=lambda y: y.year)
        for one, other in pairwise(ordered):
            if other.year != one.year + 1:
                raise ValueError(f"calendar years {one.year} and {other.year} are not consecutive")
        object.__setattr__(self, "years", ordered)
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def version(self) -> str:
        data = self.model_dump_json(include={"rules", "years"}).encode()
        return "wt-" + hashlib.sha256(data).hexdigest()[:16]

    @property
    def first_day(self) -> date:
        return date(self.years[0].year, 1, 1)

    @property
    def last_day(self) -> date:
        return date(self.years[-1].year, 12, 31)

    def is_working_day(self, day: date) -> bool:
        """Whether `day` counts at all for this office (it has periods on working days)."""
        if self.rules.always_open or self.rules.days == "every_day":
            return True
        if not self.first_day <= day <= self.last_day:
            raise HorizonError(
                f"{day} is outside the calendar slice {self.first_day}..{self.last_day} "
                f"({self.version}); the deadline must come from an activity"
            )
        return self.years[day.year - self.years[0].year].is_working_day(day)

    def open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The office's opening intervals on a local day, as aware instants (town time)."""
        midnight = datetime(day.year, day.month, day.day, tzinfo=TOWN_TZ)
        if self.rules.always_open:
            return [(midnight, midnight + timedelta(days=1))]
        if not self.is_working_day(day):
            return []
        return [
            (
                midnight + timedelta(minutes=p.start_minute),
                midnight + timedelta(minutes=p.end_minute),
            )
            for p in self.rules.periods_on(day)
        ]
