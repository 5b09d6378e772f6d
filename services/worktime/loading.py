"""Loading a year's national calendar (the State Council's notice) from an operator's file.

The notice comes out each autumn for the next year, often before the package has it; an
operator loads it from a small file with ``python -m tools.calendar load`` or the supervisor
route ``POST /supervisors/calendar``. Both go through ``validate_year``: an impossible entry
(a date outside the year, a make-up day on a weekday, a day both off and on) is refused and
the refusal names the field (HTTP 422), so nothing half-right reaches running cases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, ValidationError

from schemas.platform.common import Line
from schemas.worktime import YearSchedule
from schemas.worktime.sources import expand_holidays
from services.cases.filing import IntakeError
from services.platform.db import SessionFactory
from services.worktime.calendar_store import store_year

DAY = r"\d{4}-\d{2}-\d{2}"
Entry = Annotated[
    str,
    Field(pattern=rf"^{DAY}(\.\.{DAY})?$", max_length=22, examples=["2027-02-06..2027-02-13"]),
]
Day = Annotated[str, Field(pattern=rf"^{DAY}$", max_length=10, examples=["2027-02-20"])]


class CalendarYearBody(BaseModel):
    """A year of the notice as the operator writes it; holidays may be spans ``first..last``."""

    year: int = Field(ge=2000, le=2100)
    holidays: list[Entry] = Field(min_length=1, max_length=120)
    workdays: list[Day] = Field(default_factory=list, max_length=30)
    source: Annotated[Line, Field(min_length=1, max_length=200)] = "notice"


class CalendarYearLoaded(BaseModel):
    year: int
    holidays: int = Field(description="days off listed by the notice")
    workdays: list[date] = Field(description="make-up working days")
    non_working_days: int = Field(description="weekends not made up, and the holidays")
    replaced: bool = Field(description="an earlier load of this year was replaced")
    source: str


def _field_of(message: str) -> str:
    if "make-up" in message:
        return "workdays"
    return "holidays"


def refusal(error: ValidationError, field_of: Callable[[str], str]) -> IntakeError:
    """A loaded file's first validation error as the 422 the API and the CLIs give: the
    field at fault from pydantic's location, or, for a model-wide rule (no location), the
    field ``field_of`` reads from the message."""
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    loc = [str(part) for part in first["loc"]]
    return IntakeError(".".join(loc) if loc else field_of(message), message)


def validate_year(body: CalendarYearBody) -> YearSchedule:
    """The year as a ``YearSchedule``, or ``IntakeError`` naming the field at fault."""
    try:
        holidays = expand_holidays(list(body.holidays), "holidays")
    except ValueError as error:
        raise IntakeError("holidays", str(error)) from error
    try:
        return YearSchedule.model_validate(
            {
                "year": body.year,
                "holidays": holidays,
                "workdays": body.workdays,
                "source": body.source,
            }
        )
    except ValidationError as error:
        raise refusal(error, _field_of) from error


async def load_year(
    sessions: SessionFactory, body: CalendarYearBody, by: str
) -> CalendarYearLoaded:
    schedule = validate_year(body)
    replaced = await store_year(sessions, schedule, by)
    return CalendarYearLoaded(
        year=schedule.year,
        holidays=len(schedule.holidays),
        workdays=schedule.workdays,
        non_working_days=len(schedule.non_working_days()),
        replaced=replaced,
        source=schedule.source,
    )
