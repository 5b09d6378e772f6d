"""The national holiday calendar, for the linkage center: load a year's notice, read a year.

A loaded year is used by the deadlines cases compute from then on (each stage asks the
calendar activity when it starts); deadlines already set stand (docs/working-time.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.deps import State, Supervisor
from schemas.cases.api import Problem
from schemas.worktime import YearSchedule
from schemas.worktime.sources import UnknownYearError, from_package
from services.worktime.calendar_store import loaded_years
from services.worktime.loading import CalendarYearBody, CalendarYearLoaded, load_year

router = APIRouter(prefix="/supervisors/calendar", tags=["supervisors"])
ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": Problem} for status in (400, 401, 403, 413, 422)
}


@router.post("", response_model=CalendarYearLoaded, responses=ERRORS)
async def load_calendar_year(
    body: CalendarYearBody, state: State, supervisor: Supervisor
) -> CalendarYearLoaded:
    """Load (or replace) one year of the State Council's holiday notice; 422 names the entry."""
    return await load_year(state.sessions, body, supervisor.id)


@router.get(
    "/{year}",
    response_model=YearSchedule,
    responses={status: {"model": Problem} for status in (401, 403, 404, 422)},
)
async def calendar_year(
    year: Annotated[int, Path(ge=2000, le=2100)], state: State, _: Supervisor
) -> YearSchedule:
    """The year cases count with: a loaded notice, else the package's."""
    loaded = (await loaded_years(state.sessions)).get(year)
    if loaded is not None:
        return loaded
    try:
        return from_package(year)
    except UnknownYearError as error:
        raise HTTPException(404, str(error)) from error
