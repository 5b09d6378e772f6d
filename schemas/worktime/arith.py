"""Working-time arithmetic: the one pure function family every deadline goes through.

Pure (no clock, no I/O): a workflow may call it with `workflow.now()` and the slice from
its policy snapshot. Instants may come in any time zone; days are cut in town time and
every result is an aware UTC instant.

Conventions (docs/working-time.md):
* Working hours: the instant at which `span` of opening time has elapsed since `start`.
  A span that is used up exactly at a closing time falls due at that closing time
  (never at the next opening), so `add(add(t, a), b) == add(t, a + b)`.
* N working days (GB/T-style, as the Civil Code counts periods): the day of `start` is
  not counted, whatever the hour; the deadline is the close of business of the Nth
  working day after it. An always-open office counts N x 24 hours of wall-clock time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from schemas.worktime.models import TOWN_TZ, CalendarSlice, HorizonError

ZERO = timedelta(0)


class WorkingDays(BaseModel):
    """A span of N working days (see the module docstring for what it means)."""

    model_config = ConfigDict(frozen=True)

    count: int = Field(ge=1)


Span = timedelta | WorkingDays


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is a naive datetime; working time needs an aware instant")
    return moment


def _days_from(cal: CalendarSlice, moment: datetime) -> date:
    return _aware(moment).astimezone(TOWN_TZ).date()


def _guard(cal: CalendarSlice, day: date, start: datetime) -> None:
    """Stop at the end of the horizon: counting on would silently treat it as closed."""
    if cal.rules.always_open or cal.rules.days == "every_day":
        return
    if day > cal.last_day:
        raise HorizonError(
            f"counting from {start.isoformat()} runs past the calendar slice "
            f"(last day {cal.last_day}, {cal.version}); the deadline must come from an activity"
        )


def add_working(cal: CalendarSlice, start: datetime, span: Span) -> datetime:
    """The instant `span` of working time after `start` (aware UTC)."""
    start = _aware(start).astimezone(UTC)
    if cal.rules.always_open:
        wall = timedelta(days=span.count) if isinstance(span, WorkingDays) else span
        if wall < ZERO:
            raise ValueError(f"negative span {span}")
        return start + wall
    if isinstance(span, WorkingDays):
        return _add_days(cal, start, span.count)
    if span < ZERO:
        raise ValueError(f"negative span {span}")
    if span == ZERO:
        return start
    remaining, day = span, _days_from(cal, start)
    while True:
        _guard(cal, day, start)
        for opens, closes in cal.open_intervals(day):
            if closes <= start:
                continue
            begin = max(opens, start)
            available = closes - begin
            if remaining <= available:
                return (begin + remaining).astimezone(UTC)
            remaining -= available
        day += timedelta(days=1)


def _add_days(cal: CalendarSlice, start: datetime, count: int) -> datetime:
    day, found = _days_from(cal, start), 0
    while True:
        day += timedelta(days=1)
        _guard(cal, day, start)
        intervals = cal.open_intervals(day)
        if intervals:
            found += 1
            if found == count:
                return intervals[-1][1].astimezone(UTC)


def working_between(cal: CalendarSlice, a: datetime, b: datetime) -> timedelta:
    """Opening time in [a, b); negative when b is before a."""
    a, b = _aware(a).astimezone(UTC), _aware(b).astimezone(UTC)
    if b < a:
        return -working_between(cal, b, a)
    if cal.rules.always_open:
        return b - a
    total, day, last = ZERO, _days_from(cal, a), _days_from(cal, b)
    while day <= last:
        _guard(cal, day, a)
        for opens, closes in cal.open_intervals(day):
            overlap = min(closes, b) - max(opens, a)
            if overlap > ZERO:
                total += overlap
        day += timedelta(days=1)
    return total


def is_working(cal: CalendarSlice, moment: datetime) -> bool:
    """Whether the office is open at `moment` (opening included, closing excluded)."""
    moment = _aware(moment)
    day = _days_from(cal, moment)
    # A period ending at 24:00 is followed by one from 00:00: both sides are this day's.
    return any(opens <= moment < closes for opens, closes in cal.open_intervals(day))


def next_opening(cal: CalendarSlice, moment: datetime) -> datetime:
    """`moment` itself when open, else the next instant the office opens (aware UTC)."""
    moment = _aware(moment).astimezone(UTC)
    day = _days_from(cal, moment)
    while True:
        _guard(cal, day, moment)
        for opens, closes in cal.open_intervals(day):
            if moment < closes:
                return max(opens, moment).astimezone(UTC)
        day += timedelta(days=1)
