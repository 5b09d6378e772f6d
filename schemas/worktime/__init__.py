"""Working time: office hours and the national calendar as data, and the arithmetic on them.

`models` and `arith` are pure and safe for workflows; `sources` (the installed package, file
text) and `render` (templates) are for the API and activities. See docs/working-time.md.
"""

from schemas.worktime.arith import (
    Span,
    WorkingDays,
    add_working,
    is_working,
    next_opening,
    working_between,
)
from schemas.worktime.models import (
    TOWN_TZ,
    CalendarSlice,
    HorizonError,
    Period,
    Season,
    WorkingRules,
    YearSchedule,
)

__all__ = [
    "TOWN_TZ",
    "CalendarSlice",
    "HorizonError",
    "Period",
    "Season",
    "Span",
    "WorkingDays",
    "WorkingRules",
    "YearSchedule",
    "add_working",
    "is_working",
    "next_opening",
    "working_between",
]
