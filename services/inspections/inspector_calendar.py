"""An inspector's working calendar: the next visit slot that fits in a working day.

Pure functions (no database), so the booking activity and the round-time model of the
reports use the same rule: appointments start on the slot grid (e.g. every 30 minutes),
only on working days, between the day's start and end in the town's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from schemas.inspections.checklists import VisitModel


def _zone(visit: VisitModel) -> timezone:
    return timezone(timedelta(hours=visit.utc_offset_hours))


def next_slot(after: datetime, minutes: int, visit: VisitModel) -> tuple[datetime, datetime]:
    """The first ``(start, end)`` in UTC at or after ``after`` where a visit fits.

    A visit longer than a whole working day starts at the beginning of a day and runs
    over: better late than never booked.
    """
    zone = _zone(visit)
    length = timedelta(minutes=minutes)
    day_length = datetime.combine(datetime.min, visit.day_end) - datetime.combine(
        datetime.min, visit.day_start
    )
    local = after.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    step = timedelta(minutes=visit.slot_minutes)
    slots = -(-(local - midnight) // step)  # ceiling division of timedeltas
    start = midnight + slots * step
    for _ in range(400):
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        opens = day.replace(hour=visit.day_start.hour, minute=visit.day_start.minute)
        closes = day.replace(hour=visit.day_end.hour, minute=visit.day_end.minute)
        if start.isoweekday() not in visit.working_days or start >= closes:
            start = opens + timedelta(days=1)
            continue
        start = max(start, opens)
        if start + length <= closes or (length > day_length and start == opens):
            return start.astimezone(UTC), (start + length).astimezone(UTC)
        start = opens + timedelta(days=1)
    raise ValueError("no working day within 400 days: check the visit model")


def working_days_between(start: datetime, end: datetime, visit: VisitModel) -> int:
    """Working days touched from ``start`` to ``end`` (both in the town's calendar)."""
    zone = _zone(visit)
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    count = 0
    while day <= last:
        if day.isoweekday() in visit.working_days:
            count += 1
        day += timedelta(days=1)
    return count


def simulate_round(
    visit_minutes: list[int], inspectors: int, start: datetime, visit: VisitModel
) -> tuple[datetime, int]:
    """When a round of visits (in order) would end with ``inspectors`` working in parallel.

    Each visit goes to the inspector free first, as the booking activity does. Returns the
    end of the last visit and the number of working days used. This is the model behind
    "five separate rounds": the same people, one department's checklist per visit.
    """
    if inspectors < 1:
        raise ValueError("at least one inspector")
    free = [start] * inspectors
    last = start
    for minutes in visit_minutes:
        index = min(range(inspectors), key=lambda i: (free[i], i))
        _start, end = next_slot(free[index], minutes, visit)
        free[index] = end
        last = max(last, end)
    return last, working_days_between(start, last, visit)
