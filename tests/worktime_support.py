"""Shared rules and slices for the working-time tests (real package data, 2025 and 2026)."""

from __future__ import annotations

from datetime import datetime

from schemas.worktime import TOWN_TZ, CalendarSlice, Period, Season, WorkingRules
from schemas.worktime.sources import from_package

OFFICE = WorkingRules(
    office="urban_management",
    periods=[Period(start="08:30", end="12:00"), Period(start="13:30", end="17:30")],
)
SUMMER_OFFICE = WorkingRules(
    office="market_regulation",
    periods=[Period(start="08:30", end="12:00"), Period(start="13:30", end="17:30")],
    seasons=[
        Season(
            name="summer",
            first_day="07-01",
            last_day="09-30",
            periods=[Period(start="08:00", end="11:30"), Period(start="14:30", end="18:00")],
        )
    ],
)
EMERGENCY = WorkingRules(office="fire", always_open=True)
NIGHT_ROSTER = WorkingRules(
    office="steward_team_night",
    days="every_day",
    periods=[Period(start="00:00", end="08:00"), Period(start="20:00", end="24:00")],
)
YEARS = [from_package(2025), from_package(2026)]


def slice_for(rules: WorkingRules) -> CalendarSlice:
    return CalendarSlice(rules=rules, years=YEARS)


def town(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant given in town time (Asia/Shanghai)."""
    return datetime(year, month, day, hour, minute, tzinfo=TOWN_TZ)
