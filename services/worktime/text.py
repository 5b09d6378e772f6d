"""Deadlines in messages the way people read them: "Thursday 15:30 (8 working hours)".

For messages whose deadline counts working time (``deadline_span`` set by the workflow);
a wall-clock deadline keeps its plain town time, as before ``worktime-v1``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.platform.common import town_time
from schemas.worktime import WorkingDays
from schemas.worktime.policy import as_span
from schemas.worktime.render import render_deadline


def deadline_text(
    deadline: datetime | None, span: timedelta | None, language: str, now: datetime | None = None
) -> str:
    if deadline is None or span is None:
        return town_time(deadline)
    counted = as_span(span)
    limit = WorkingDays(count=counted) if isinstance(counted, int) else counted
    return render_deadline(deadline, limit, language, now=now or datetime.now(UTC), prefix=False)
