"""Working-time data: the package against the State Council notices, year files, the CLI,
the slice's version, and the deadline text."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.worktime import CalendarSlice, Period, Season, WorkingDays, WorkingRules, YearSchedule
from schemas.worktime.render import render_deadline
from schemas.worktime.sources import UnknownYearError, build_slice, from_package, parse_year
from tests.worktime_support import OFFICE, YEARS, town
from tools.calendar import main as calendar_cli

# From the notices themselves (国办发明电〔2024〕12号 for 2025, 〔2025〕7号 for 2026).
OFF_2025 = ["2025-01-01", "2025-01-28", "2025-02-03", "2025-02-04", "2025-04-04", "2025-05-01",
            "2025-05-05", "2025-06-02", "2025-10-01", "2025-10-06", "2025-10-08"]  # fmt: skip
MAKE_UP_2025 = ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"]
OFF_2026 = ["2026-01-01", "2026-01-02", "2026-02-16", "2026-02-20", "2026-02-23", "2026-04-06",
            "2026-05-01", "2026-05-04", "2026-05-05", "2026-06-19", "2026-09-25", "2026-10-01",
            "2026-10-07"]  # fmt: skip
MAKE_UP_2026 = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]


@pytest.mark.parametrize(
    ("year", "off", "make_up"), [(2025, OFF_2025, MAKE_UP_2025), (2026, OFF_2026, MAKE_UP_2026)]
)
def test_the_package_matches_the_state_council_notice(
    year: int, off: list[str], make_up: list[str]
) -> None:
    schedule = from_package(year)
    assert [d.isoformat() for d in schedule.workdays] == make_up  # every make-up day, no more
    for text in off:
        assert not schedule.is_working_day(date.fromisoformat(text)), text
    assert schedule.is_working_day(date(2025, 10, 9) if year == 2025 else date(2026, 10, 8))
    # Weekdays off = the 13 statutory days plus one per make-up weekend day.
    weekdays_off = [d for d in schedule.non_working_days() if d.weekday() < 5]
    assert len(weekdays_off) == 13 + len(make_up)


def test_a_year_the_package_does_not_know_is_refused_not_guessed() -> None:
    with pytest.raises(UnknownYearError, match=r"python -m tools\.calendar"):
        from_package(2099)
    # The slice then ends where knowledge ends; a loaded file extends it.
    assert [y.year for y in build_slice(OFFICE, 2026).years] == [2026]
    file_2027 = YearSchedule(year=2027, holidays=[date(2027, 1, 1)], source="test")
    assert [y.year for y in build_slice(OFFICE, 2026, {2027: file_2027}).years] == [2026, 2027]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"holidays": ["2026-01-01"]}, "outside the year 2025"),
        ({"holidays": ["2025-01-01", "2025-01-01"]}, "listed twice"),
        ({"holidays": ["2025-01-01"], "workdays": ["2025-01-26", "2025-01-26"]}, "listed twice"),
        ({"holidays": ["2025-01-26"], "workdays": ["2025-01-26"]}, "both a holiday and a make-up"),
        ({"holidays": ["2025-01-01"], "workdays": ["2025-01-27"]}, "Monday, already a working"),
        ({"holidays": []}, "lists no holiday"),
        ({"holidays": ["2025-02-30"]}, "holidays.0"),
        ({"holidays": ["2025-10-08..2025-10-01"]}, "ends before it starts"),
    ],
)
def test_a_year_file_with_impossible_entries_is_refused(
    entries: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_year(json.dumps({"year": 2025, **entries}), "bad-2025.json")
    assert "bad-2025.json" in str(caught.value)


def test_a_year_file_in_yaml_with_spans_equals_the_package(tmp_path: Path) -> None:
    path = tmp_path / "2025.yaml"
    path.write_text(
        "year: 2025\n"
        "holidays: ['2025-01-01', '2025-01-28..2025-02-04', '2025-04-04..2025-04-06',\n"
        "  '2025-05-01..2025-05-05', '2025-05-31..2025-06-02', '2025-10-01..2025-10-08']\n"
        "workdays: [2025-01-26, 2025-02-08, 2025-04-27, 2025-09-28, 2025-10-11]\n"
    )
    loaded = parse_year(path.read_text(), path.name)
    assert loaded.non_working_days() == YEARS[0].non_working_days()
    assert loaded.workdays == YEARS[0].workdays


def test_the_year_file_shown_in_the_doc_is_the_2026_notice() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "working-time.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", doc, re.DOTALL)
    assert block is not None
    loaded = parse_year(block[1], "docs/working-time.md")
    assert loaded.non_working_days() == YEARS[1].non_working_days()
    assert loaded.workdays == YEARS[1].workdays


def test_the_cli_checks_and_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "2027.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"year": 2027, "holidays": ["2027-01-01"], "workdays": []}))
    bad.write_text(
        json.dumps({"year": 2027, "holidays": ["2027-01-01"], "workdays": ["2027-01-05"]})
    )
    assert calendar_cli(["check", str(good)]) == 0
    assert "2027 ok, 1 holidays" in capsys.readouterr().out
    assert calendar_cli(["check", str(bad)]) == 1
    assert "2027-01-05 is a Tuesday" in capsys.readouterr().err
    assert calendar_cli(["show", "2025"]) == 0
    out = capsys.readouterr().out
    assert "2025-10-08 Wed holiday" in out and "2025-10-11 Sat make-up working day" in out
    assert "2025-10-11 Sat weekend" not in out
    assert calendar_cli(["show", "2027", str(good)]) == 0
    assert "2027-01-01 Fri holiday" in capsys.readouterr().out
    assert calendar_cli(["show", "2099"]) == 1
    assert "no holiday notice for 2099" in capsys.readouterr().err


def test_office_hours_refuse_impossible_entries() -> None:
    nine_to_five = Period(start="09:00", end="17:00")
    with pytest.raises(ValidationError, match="overlap"):
        WorkingRules(office="x", periods=[Period(start="08:00", end="12:00"),
                                          Period(start="11:00", end="13:00")])  # fmt: skip
    with pytest.raises(ValidationError, match="does not end after"):
        Period(start="12:00", end="12:00")
    with pytest.raises(ValidationError, match="not a time"):
        Period(start="8:00", end="12:00")
    with pytest.raises(ValidationError, match="after 24:00"):
        Period(start="20:00", end="24:30")
    with pytest.raises(ValidationError, match="always-open office lists no periods"):
        WorkingRules(office="fire", always_open=True, periods=[Period(start="08:00", end="09:00")])
    with pytest.raises(ValidationError, match="no opening period"):
        WorkingRules(office="x")
    summer = Season(name="summer", first_day="06-01", last_day="09-30", periods=[nine_to_five])
    july = Season(name="july", first_day="07-01", last_day="07-31", periods=[nine_to_five])
    with pytest.raises(ValidationError, match="seasons summer and july overlap"):
        WorkingRules(office="x", periods=[nine_to_five], seasons=[july, summer])
    with pytest.raises(ValidationError, match="day is out of range"):
        Season(
            name="s",
            first_day="02-30",
            last_day="03-01",
            periods=[Period(start="08:00", end="09:00")],
        )


def test_the_slice_is_small_serialisable_and_versioned() -> None:
    cal = CalendarSlice(rules=OFFICE, years=YEARS)
    text = cal.model_dump_json()
    assert len(text) < 4000
    again = CalendarSlice.model_validate_json(text)
    assert again == cal and again.version == cal.version and cal.version.startswith("wt-")
    later = OFFICE.model_copy(update={"periods": [Period(start="09:00", end="17:00")]})
    assert CalendarSlice(rules=later, years=YEARS).version != cal.version
    moved = YEARS[1].model_copy(update={"workdays": YEARS[1].workdays[:-1]})
    assert CalendarSlice(rules=OFFICE, years=[YEARS[0], moved]).version != cal.version
    with pytest.raises(ValidationError, match="not consecutive"):
        CalendarSlice(
            rules=OFFICE, years=[YEARS[0], YearSchedule(year=2027, holidays=[date(2027, 1, 1)])]
        )


def test_workflow_safe_modules_import_no_io_library() -> None:
    """models and arith are what a workflow will import: no package data, files or templates."""
    code = (
        "import sys, schemas.worktime; "
        "print(sorted(m for m in ('chinese_calendar', 'yaml', 'jinja2', 'sqlalchemy') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_town_time_is_asia_shanghai() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    for month in range(1, 13):  # no daylight saving in any month of the slice's years
        moment = town(2026, month, 15, 12)
        assert moment.astimezone(shanghai).utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    ("language", "span", "expected"),
    [
        ("en", timedelta(hours=8), "due Monday 10:30 (8 working hours)"),
        ("zh", timedelta(hours=8), "截止 周一 10:30（8个工作小时）"),
        ("en", timedelta(minutes=90), "due Monday 10:30 (1 working hour 30 min)"),
        ("zh", WorkingDays(count=3), "截止 周一 10:30（3个工作日）"),
    ],
)
def test_deadline_text_in_town_time(
    language: str, span: WorkingDays | timedelta, expected: str
) -> None:
    due = datetime.fromisoformat("2025-10-13T02:30:00+00:00")  # 10:30 in town
    now = datetime.fromisoformat("2025-10-10T09:00:00+08:00")
    assert render_deadline(due, span, language, now=now) == expected


def test_deadline_text_shows_the_date_when_far_and_plain_hours_for_24_7() -> None:
    due = town(2026, 2, 24, 17)
    assert render_deadline(due, timedelta(hours=16), "en") == (
        "due Tuesday 24 February 17:00 (16 working hours)"
    )
    assert render_deadline(due, timedelta(hours=8), "zh", wall_clock=True) == (
        "截止 2月24日 周二 17:00（8个小时）"
    )
    with pytest.raises(ValueError, match="aware"):
        render_deadline(datetime(2026, 2, 24, 17), timedelta(hours=8), "en")
