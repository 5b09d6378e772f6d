"""Where a year's national calendar comes from: the `chinesecalendar` package or an operator file.

Not for workflows: what the installed package says changes with its version, so a
workflow only ever sees a `CalendarSlice` built here by the API or an activity and
carried in its input or history. Parsing a file's text is pure; reading the file is the
caller's job (tools/calendar.py).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import chinese_calendar
import yaml
from pydantic import ValidationError

from schemas.worktime.models import CalendarSlice, WorkingRules, YearSchedule

PACKAGE_SOURCE = "chinesecalendar " + chinese_calendar.__version__


class UnknownYearError(LookupError):
    """The package has no notice for that year yet: an operator must load a file."""


def from_package(year: int) -> YearSchedule:
    """The year as the package has it (the State Council notice, published each November)."""
    holidays = sorted(day for day in chinese_calendar.holidays if day.year == year)
    if not holidays:
        raise UnknownYearError(
            f"{PACKAGE_SOURCE} has no holiday notice for {year}; "
            f"load it with `python -m tools.calendar check FILE`"
        )
    workdays = sorted(
        day for day in chinese_calendar.workdays if day.year == year and day.weekday() >= 5
    )
    # The package lists every day of a holiday span, weekend days included, as the
    # notice does; only weekend days that become working days are make-up days.
    return YearSchedule(year=year, holidays=holidays, workdays=workdays, source=PACKAGE_SOURCE)


def parse_year(text: str, name: str = "<file>") -> YearSchedule:
    """A year schedule from JSON or YAML text; any error names the file and the entry."""
    try:
        raw: Any = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ValueError(f"{name}: not valid JSON/YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ValueError(f"{name}: expected a mapping with year, holidays, workdays")
    raw.setdefault("source", name)
    raw["holidays"] = expand_holidays(raw.get("holidays", []), name)
    try:
        return YearSchedule.model_validate(raw)
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'year'}: {e['msg']}" for e in error.errors()
        )
        raise ValueError(f"{name}: {details}") from error


def expand_holidays(entries: Any, name: str) -> list[Any]:
    """Holidays may be written as the notice does: a span "2025-10-01..2025-10-08"."""
    if not isinstance(entries, list):
        raise ValueError(f"{name}: holidays must be a list")
    out: list[Any] = []
    for entry in entries:
        if isinstance(entry, str) and ".." in entry:
            first, last = (date.fromisoformat(part.strip()) for part in entry.split(".."))
            if last < first:
                raise ValueError(f"{name}: holiday span {entry} ends before it starts")
            out.extend(first + timedelta(days=n) for n in range((last - first).days + 1))
        else:
            out.append(entry)
    return out


def national_years(
    first: int, last: int, loaded: dict[int, YearSchedule] | None = None
) -> list[YearSchedule]:
    """Consecutive years from `first`, a loaded file winning over the package; stops at the
    first year nobody knows (the slice's horizon then ends before it)."""
    loaded = loaded or {}
    years: list[YearSchedule] = []
    for year in range(first, last + 1):
        if year in loaded:
            years.append(loaded[year])
            continue
        try:
            years.append(from_package(year))
        except UnknownYearError:
            break
    if not years:
        raise UnknownYearError(f"no national calendar for {first}; load the notice from a file")
    return years


def build_slice(
    rules: WorkingRules, year: int, loaded: dict[int, YearSchedule] | None = None
) -> CalendarSlice:
    """The slice for a case filed in `year`: this year and next, as far as either is known."""
    return CalendarSlice(rules=rules, years=national_years(year, year + 1, loaded))
