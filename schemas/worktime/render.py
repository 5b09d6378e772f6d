"""Deadline text for people: "due Monday 10:30 (8 working hours)", in zh and en, town time.

Jinja2, not Babel: every message of the service already lives in templates/ (zh, en), the
wording is the town's own ("周一", "个工作小时") rather than CLDR's ("星期一"), and it needs
no new dependency for two tables of names. Reads templates: for activities and the API.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from schemas.worktime.arith import Span, WorkingDays
from schemas.worktime.models import TOWN_TZ

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "worktime"
LANGUAGES = ("zh", "en")


@lru_cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=False,  # plain text for chat messages and the Web UI details
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_deadline(
    due: datetime,
    span: Span,
    language: str,
    *,
    now: datetime | None = None,
    wall_clock: bool = False,
    prefix: bool = True,
) -> str:
    """The deadline in town time; the date is shown unless `due` is within the week after `now`.

    `wall_clock` says the span counts plain hours (a 24/7 office), not working time;
    without `prefix` the text leaves out "due"/"截止" (for a template that says it).
    """
    if due.tzinfo is None:
        raise ValueError("render_deadline needs an aware instant")
    local = due.astimezone(TOWN_TZ)
    soon = now is not None and timedelta(0) <= local - now.astimezone(TOWN_TZ) < timedelta(days=6)
    if isinstance(span, WorkingDays):
        days, hours, minutes = span.count, 0, 0
    else:
        total = int(span.total_seconds()) // 60
        days, hours, minutes = 0, total // 60, total % 60
    template = _environment().get_template(
        f"{language if language in LANGUAGES else 'zh'}/deadline.j2"
    )
    return template.render(
        due=local,
        show_date=not soon,
        days=days,
        hours=hours,
        minutes=minutes,
        wall_clock=wall_clock,
        prefix=prefix,
    ).strip()
