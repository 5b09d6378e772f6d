"""Deadlines in messages: "Thursday 15:30 (8 working hours)" in town time, zh and en."""

from __future__ import annotations

from datetime import timedelta

from schemas.platform.common import town_time
from services.worktime.text import deadline_text
from tests.worktime_support import town


def test_a_working_deadline_reads_as_people_say_it() -> None:
    due, now = town(2025, 10, 9, 15, 30), town(2025, 10, 6, 9)
    assert deadline_text(due, timedelta(hours=8), "en", now) == "Thursday 15:30 (8 working hours)"
    assert deadline_text(due, timedelta(hours=8), "zh", now) == "周四 15:30（8个工作小时）"
    # far ahead (across the National Day holiday from the eve): with the date
    eve = town(2025, 9, 30, 15)
    assert deadline_text(due, timedelta(hours=8), "zh", eve) == "10月9日 周四 15:30（8个工作小时）"
    assert deadline_text(due, timedelta(hours=8), "en", eve) == (
        "Thursday 9 October 15:30 (8 working hours)"
    )
    # a limit in whole days counts working days
    assert deadline_text(due, timedelta(days=3), "en", now) == "Thursday 15:30 (3 working days)"
    assert deadline_text(due, timedelta(hours=3, minutes=45), "zh", now) == (
        "周四 15:30（3个工作小时45分钟）"
    )


def test_a_wall_clock_deadline_keeps_its_plain_time() -> None:
    due = town(2025, 10, 9, 15, 30)
    assert deadline_text(due, None, "zh") == town_time(due)
    assert deadline_text(None, timedelta(hours=8), "en") == town_time(None)
