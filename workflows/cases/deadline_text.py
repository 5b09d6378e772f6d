"""The deadline in the Web UI's live details, the way people read it (pure, for workflows).

"until Thursday 17 Dec 15:30 town time (8 working hours)" when the deadline counts working
time (``worktime-v1``); a wall-clock deadline keeps its UTC time as before. Messages use
the zh/en templates (``services/worktime/text.py``); the details are Temporal's, in English.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.kit.waiting import Deadline

with workflow.unsafe.imports_passed_through():
    from schemas.worktime import TOWN_TZ
    from schemas.worktime.policy import as_span

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _plural(n: int, unit: str) -> str:
    return f"{n} working {unit}{'' if n == 1 else 's'}"


def until_text(deadline: Deadline | None) -> str:
    if deadline is None:
        return ""
    if deadline.clock is None:
        return f" until {deadline.at:%Y-%m-%d %H:%M} UTC"
    local = deadline.at.astimezone(TOWN_TZ)
    counted = as_span(deadline.span)
    if isinstance(counted, int):
        limit = _plural(counted, "day")
    else:
        minutes = int(counted.total_seconds()) // 60
        hours, rest = divmod(minutes, 60)
        limit = (
            _plural(hours, "hour") + (f" {rest} min" if rest else "")
            if hours
            else (f"{rest} working min")
        )
    when = f"{WEEKDAYS[local.weekday()]} {local:%d %b %H:%M}"
    paused = ", paused: suspended" if deadline.paused else ""
    return f" until {when} town time ({limit}{paused})"
