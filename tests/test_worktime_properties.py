"""Properties of working-time arithmetic, over the real 2025-2026 calendars and four offices.

Monotone, additive, inverse, never due inside a closed period, any input time zone.
Example counts stay moderate: the suite must stay fast.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.worktime import (
    TOWN_TZ,
    CalendarSlice,
    HorizonError,
    WorkingDays,
    add_working,
    is_working,
    next_opening,
    working_between,
)
from tests.worktime_support import EMERGENCY, NIGHT_ROSTER, OFFICE, SUMMER_OFFICE, slice_for

SLICES = st.sampled_from([slice_for(r) for r in (OFFICE, SUMMER_OFFICE, EMERGENCY, NIGHT_ROSTER)])
ZONES = st.sampled_from([UTC] + [timezone(timedelta(hours=h)) for h in (-10, -4, 5.5, 8, 9, 14)])
# 2025-01-01 .. 2026-10-31 in town, to the second: spans below never leave the horizon.
# Half of them on the half hour, where periods open and close and spans end exactly there.
SECONDS = st.one_of(st.integers(0, 669 * 86400), st.integers(0, 669 * 48).map(lambda n: n * 1800))
INSTANTS = st.builds(
    lambda seconds, zone: (
        datetime(2024, 12, 31, 16, tzinfo=UTC) + timedelta(seconds=seconds)
    ).astimezone(zone),
    SECONDS,
    ZONES,
)
SPANS = st.one_of(st.integers(0, 80 * 3600), st.integers(0, 160).map(lambda n: n * 1800)).map(
    lambda s: timedelta(seconds=s)
)
DAYS = st.integers(1, 20).map(lambda n: WorkingDays(count=n))
COMMON = settings(max_examples=60, deadline=None)


def _inside_closed_period(cal: CalendarSlice, due: datetime) -> bool:
    """Neither open at `due` nor open just before it (an exact closing time)."""
    just_before = due - timedelta(microseconds=1)
    return not is_working(cal, due) and not is_working(cal, just_before)


@COMMON
@given(SLICES, INSTANTS, SPANS, SPANS)
def test_additive(cal: CalendarSlice, start: datetime, a: timedelta, b: timedelta) -> None:
    assert add_working(cal, add_working(cal, start, a), b) == add_working(cal, start, a + b)


@COMMON
@given(SLICES, INSTANTS, SPANS)
def test_inverse(cal: CalendarSlice, start: datetime, span: timedelta) -> None:
    assert working_between(cal, start, add_working(cal, start, span)) == span


@COMMON
@given(SLICES, INSTANTS, SPANS, st.integers(0, 3 * 86400), st.integers(0, 10 * 3600))
def test_monotone(
    cal: CalendarSlice, start: datetime, span: timedelta, later: int, longer: int
) -> None:
    due = add_working(cal, start, span)
    assert add_working(cal, start + timedelta(seconds=later), span) >= due
    assert add_working(cal, start, span + timedelta(seconds=longer)) >= due


@COMMON
@given(SLICES, INSTANTS, SPANS)
def test_never_due_inside_a_closed_period(
    cal: CalendarSlice, start: datetime, span: timedelta
) -> None:
    due = add_working(cal, start, span)
    assert due.tzinfo is UTC
    if span:
        assert not _inside_closed_period(cal, due)


@COMMON
@given(SLICES, INSTANTS, st.integers(1, 30))
def test_a_span_used_up_at_closing_falls_due_at_closing(
    cal: CalendarSlice, start: datetime, nth: int
) -> None:
    day = start.astimezone(TOWN_TZ).date()
    closings: list[datetime] = []
    while len(closings) < nth:
        closings.extend(c for _, c in cal.open_intervals(day) if c > start)
        day += timedelta(days=1)
    closing = closings[nth - 1]
    assert add_working(cal, start, working_between(cal, start, closing)) == closing


@COMMON
@given(SLICES, INSTANTS, DAYS, st.integers(0, 30 * 3600))
def test_working_days(cal: CalendarSlice, start: datetime, days: WorkingDays, later: int) -> None:
    due = add_working(cal, start, days)
    assert due > start and not _inside_closed_period(cal, due)
    assert add_working(cal, start + timedelta(seconds=later), days) >= due
    assert add_working(cal, start, WorkingDays(count=days.count + 1)) > due


@COMMON
@given(SLICES, INSTANTS)
def test_next_opening(cal: CalendarSlice, moment: datetime) -> None:
    opening = next_opening(cal, moment)
    assert opening >= moment and is_working(cal, opening)
    assert working_between(cal, moment, opening) == timedelta(0)
    assert (opening == moment) == is_working(cal, moment)
    # Starting to count at the opening or before it is the same thing.
    assert add_working(cal, moment, timedelta(minutes=1)) == opening + timedelta(minutes=1)


@settings(max_examples=30, deadline=None)
@given(SLICES, st.integers(0, 45 * 86400), SPANS)
def test_past_the_horizon_raises_or_is_wall_clock(
    cal: CalendarSlice, before_end: int, span: timedelta
) -> None:
    start = datetime(2026, 12, 31, 16, tzinfo=UTC) - timedelta(seconds=before_end)
    try:
        due = add_working(cal, start, span)
    except HorizonError:
        assert not (cal.rules.always_open or cal.rules.days == "every_day")
        return
    assert (
        due <= datetime(2026, 12, 31, 16, tzinfo=UTC)
        or cal.rules.days == "every_day"
        or (cal.rules.always_open)
    )
