"""Working-time arithmetic around real notices (2025 National Day, 2026 Spring Festival)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas.worktime import (
    HorizonError,
    WorkingDays,
    add_working,
    is_working,
    next_opening,
    working_between,
)
from tests.worktime_support import (
    EMERGENCY,
    NIGHT_ROSTER,
    OFFICE,
    SUMMER_OFFICE,
    slice_for,
    town,
)

H8 = timedelta(hours=8)


def test_filed_the_afternoon_before_national_day_falls_due_after_it() -> None:
    # 2025-09-30 (Tue) 15:00: 2.5 h that day, Oct 1-8 off, 3.5 h + 2 h on Thu Oct 9.
    due = add_working(slice_for(OFFICE), town(2025, 9, 30, 15), H8)
    assert due == town(2025, 10, 9, 15, 30)
    assert due.tzinfo is UTC


def test_a_make_up_saturday_counts_as_working_time() -> None:
    # 2025-10-11 is a Saturday worked in exchange for the National Day week.
    cal = slice_for(OFFICE)
    assert add_working(cal, town(2025, 10, 10, 16, 30), H8) == town(2025, 10, 11, 17)
    # Used up exactly at closing: due at closing, not at the next opening.
    assert add_working(cal, town(2025, 10, 10, 16, 30), timedelta(hours=1)) == town(
        2025, 10, 10, 17, 30
    )
    assert is_working(cal, town(2025, 10, 11, 9))
    assert not is_working(cal, town(2025, 10, 18, 9))  # an ordinary Saturday
    assert working_between(cal, town(2025, 10, 11), town(2025, 10, 12)) == timedelta(hours=7.5)


def test_spring_festival_2026_with_its_make_up_saturday() -> None:
    cal = slice_for(OFFICE)
    start = town(2026, 2, 13, 16)  # Friday before the Feb 15-23 holiday
    assert add_working(cal, start, H8) == town(2026, 2, 14, 16, 30)  # Sat Feb 14, worked
    assert add_working(cal, start, 2 * H8) == town(2026, 2, 24, 17)  # Tue after the holiday
    assert next_opening(cal, town(2026, 2, 14, 18)) == town(2026, 2, 24, 8, 30)


def test_an_emergency_office_keeps_wall_clock_time() -> None:
    cal = slice_for(EMERGENCY)
    start = town(2025, 9, 30, 15)
    assert add_working(cal, start, H8) == town(2025, 9, 30, 23)
    assert add_working(cal, start, WorkingDays(count=2)) == town(2025, 10, 2, 15)
    assert is_working(cal, town(2025, 10, 1, 3))
    assert working_between(cal, start, town(2025, 10, 1, 15)) == timedelta(days=1)


def test_working_days_end_at_close_of_the_nth_working_day_after_filing() -> None:
    cal = slice_for(OFFICE)
    # Filing day never counts, whatever the hour: Oct 9, 10 and the make-up Sat Oct 11.
    for hour in (7, 10, 22):
        assert add_working(cal, town(2025, 9, 30, hour), WorkingDays(count=3)) == town(
            2025, 10, 11, 17, 30
        )
    # Filed on a holiday: the next working days count.
    assert add_working(cal, town(2025, 10, 3, 10), WorkingDays(count=1)) == town(
        2025, 10, 9, 17, 30
    )


def test_summer_hours_are_a_dated_variant() -> None:
    cal = slice_for(SUMMER_OFFICE)
    assert next_opening(cal, town(2025, 9, 30, 12)) == town(2025, 9, 30, 14, 30)
    assert next_opening(cal, town(2025, 10, 9, 12)) == town(2025, 10, 9, 13, 30)
    assert is_working(cal, town(2025, 7, 1, 8)) and not is_working(cal, town(2025, 6, 30, 8))


def test_a_roster_across_midnight_ignores_the_national_calendar() -> None:
    cal = slice_for(NIGHT_ROSTER)
    # 22:00 on National Day: 2 h to midnight, 6 h after it.
    assert add_working(cal, town(2025, 10, 1, 22), H8) == town(2025, 10, 2, 6)
    assert next_opening(cal, town(2025, 10, 2, 12)) == town(2025, 10, 2, 20)


def test_the_year_boundary_reaches_the_make_up_sunday_of_2026() -> None:
    # Jan 1-3 2026 are off; Sunday Jan 4 is worked.
    due = add_working(slice_for(OFFICE), town(2025, 12, 31, 16), H8)
    assert due == town(2026, 1, 4, 16, 30)


def test_any_time_zone_in_utc_out() -> None:
    cal = slice_for(OFFICE)
    new_york = timezone(timedelta(hours=-4))
    start = datetime(2025, 9, 30, 3, tzinfo=new_york)  # 15:00 in town
    assert add_working(cal, start, H8) == datetime(2025, 10, 9, 7, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        add_working(cal, datetime(2025, 9, 30, 15), H8)


def test_running_past_the_horizon_is_a_clear_error() -> None:
    cal = slice_for(OFFICE)
    with pytest.raises(HorizonError, match=r"past the calendar slice \(last day 2026-12-31"):
        add_working(cal, town(2026, 12, 31, 16), H8)
    with pytest.raises(HorizonError, match="activity"):
        add_working(cal, town(2026, 12, 30, 9), WorkingDays(count=3))
    with pytest.raises(HorizonError):
        is_working(cal, town(2024, 12, 31, 9))
    # A 24/7 office needs no calendar, so it has no horizon.
    assert add_working(slice_for(EMERGENCY), town(2026, 12, 31, 16), H8) == town(2027, 1, 1)


def test_zero_and_negative_spans() -> None:
    cal = slice_for(OFFICE)
    start = town(2025, 10, 1, 10)
    assert add_working(cal, start, timedelta(0)) == start
    with pytest.raises(ValueError, match="negative"):
        add_working(cal, start, -H8)
    # 09:00-12:00 and 13:30-17:00, counted backwards.
    assert working_between(cal, town(2025, 10, 10, 17), town(2025, 10, 10, 9)) == -timedelta(
        hours=6, minutes=30
    )
