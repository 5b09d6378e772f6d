"""Loading a year's notice: the supervisor route and the CLI, validated, stored, used."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.platform.db import SessionFactory
from services.worktime.calendar_store import loaded_years, slice_at
from settings import Settings
from tests.security_support import bearer
from tests.worktime_cases import emptied
from tests.worktime_support import OFFICE, town
from tools.calendar import main as calendar_cli

NOTICE_2027 = {  # a year file as an operator writes it (spans as the notice states them)
    "year": 2027,
    "holidays": ["2027-01-01..2027-01-03", "2027-02-06..2027-02-13", "2027-10-01..2027-10-07"],
    "workdays": ["2027-02-20", "2027-10-09"],
    "source": "test notice",
}


@pytest.fixture(autouse=True)
async def clean_calendar(sessions: SessionFactory) -> AsyncIterator[None]:
    yield
    await emptied(sessions, "national_calendar_year")


async def post(api: httpx.AsyncClient, settings: Settings, body: Any) -> httpx.Response:
    headers = bearer(settings, "supervisor", "center-wang")
    return await api.post("/supervisors/calendar", json=body, headers=headers)


async def test_a_supervisor_loads_a_year_and_new_slices_use_it(
    api: httpx.AsyncClient, settings: Settings, sessions: SessionFactory
) -> None:
    response = await post(api, settings, NOTICE_2027)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "year": 2027,
        "holidays": 18,
        "workdays": ["2027-02-20", "2027-10-09"],
        "non_working_days": len((await loaded_years(sessions))[2027].non_working_days()),
        "replaced": False,
        "source": "test notice",
    }
    again = await post(api, settings, {**NOTICE_2027, "workdays": ["2027-02-20"]})
    assert again.json()["replaced"] is True
    read = await api.get(
        "/supervisors/calendar/2027", headers=bearer(settings, "supervisor", "center-wang")
    )
    assert read.status_code == 200 and read.json()["workdays"] == ["2027-02-20"]
    # A slice asked for late in 2026 now reaches into 2027 (the package stops at 2026).
    cal = await slice_at(sessions, OFFICE, town(2026, 12, 30, 9))
    assert [y.year for y in cal.years] == [2026, 2027]
    assert not cal.is_working_day(date(2027, 2, 8)) and cal.is_working_day(date(2027, 2, 20))


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"workdays": ["2027-02-22"]}, "workdays", "Monday, already a working day"),
        ({"holidays": ["2026-10-01"]}, "holidays", "outside the year 2027"),
        ({"holidays": ["2027-02-13..2027-02-06"]}, "holidays", "ends before it starts"),
        ({"holidays": ["2027-02-30"]}, "holidays.0", "date"),
        ({"workdays": ["2027-02-06"]}, "workdays", "both a holiday and a make-up"),
        ({"year": 1999}, "body.year", "greater than or equal to 2000"),
    ],
)
async def test_impossible_entries_are_refused_naming_the_field(
    api: httpx.AsyncClient,
    settings: Settings,
    sessions: SessionFactory,
    change: dict[str, Any],
    field: str,
    words: str,
) -> None:
    response = await post(api, settings, {**NOTICE_2027, **change})
    assert response.status_code == 422, response.text
    problem = response.json()
    fields = problem["fields"]
    assert any(f.removeprefix("body.") == field.removeprefix("body.") for f in fields), problem
    assert words in problem["message"]
    assert await loaded_years(sessions) == {}


async def test_only_the_center_loads_a_calendar(api: httpx.AsyncClient, settings: Settings) -> None:
    headers = bearer(settings, "department", "urban_management")
    response = await api.post("/supervisors/calendar", json=NOTICE_2027, headers=headers)
    assert response.status_code == 403


async def test_the_cli_loads_a_year_file_into_the_database(
    tmp_path: Path, database_url: str, sessions: SessionFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "2027.yaml"
    good.write_text("year: 2027\nholidays: ['2027-01-01..2027-01-03']\nworkdays: ['2027-01-09']\n")
    load = ["load", str(good), "--by", "operator-li", "--database-url", database_url]
    assert await asyncio.to_thread(calendar_cli, load) == 0  # its own event loop, as in a shell
    assert "2027 loaded" in capsys.readouterr().out
    assert (await loaded_years(sessions))[2027].workdays == [date(2027, 1, 9)]
    bad = tmp_path / "bad.yaml"
    bad.write_text("year: 2027\nholidays: ['2027-01-01']\nworkdays: ['2027-01-04']\n")
    assert (
        await asyncio.to_thread(calendar_cli, ["load", str(bad), "--database-url", database_url])
        == 1
    )
    assert "2027-01-04 is a Monday" in capsys.readouterr().err
    assert (await loaded_years(sessions))[2027].workdays == [date(2027, 1, 9)]
