"""The queue and the desk say a working-time deadline as the case page does (issue 15).

"周四 15:30（8个工作小时）" / "Thursday 15:30 (8 working hours)" from the projection's
``deadline_span_s``, through the same ``deadline_text`` the case page uses (the pages'
``until``); a wall-clock deadline keeps its plain town time. Rows are written as the
projector writes them (``tests/queue_support.py``); no workflow runs here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from schemas.platform.common import town_time
from schemas.worktime import TOWN_TZ
from services.platform.db import SessionFactory
from tests.queue_support import record, store
from tests.web_support import app, browser, new_account, sign_in

__all__ = ["app"]  # a fixture, imported

# A Thursday long past, so both rows sort first in their lists (the oldest deadline first).
# In UTC, as the projector writes it (SQLite keeps no offset).
THURSDAY = datetime(2000, 1, 6, 15, 30, tzinfo=TOWN_TZ).astimezone(UTC)


def until_of(html: str, case_id: str) -> str:
    """The "until" cell of the case's row."""
    row = re.search(rf'<tr data-case="{case_id}".*?</tr>', html, re.S)
    assert row, f"{case_id} is not listed"
    cell = re.search(r'<span class="until">([^<]*)</span>', row.group(0))
    assert cell, row.group(0)
    return cell.group(1)


async def test_the_queue_and_the_desk_say_working_time_deadlines(
    app: httpx.ASGITransport, sessions: SessionFactory
) -> None:
    working = record("G009", "escalated", overdue=True, deadline=THURSDAY)
    working.deadline_span_s = 8 * 3600
    wall = record("G009", "escalated", overdue=True, deadline=THURSDAY + timedelta(minutes=30))
    await store(sessions, [working, wall])
    zh_words = re.compile(r"^(\d+月\d+日 )?周四 15:30（8个工作小时）$")
    en_words = re.compile(r"^Thursday (\d+ \w+ )?15:30 \(8 working hours\)$")

    supervisor = await new_account(sessions, grids=("G009",))
    clerk = await new_account(sessions, role="department", department="urban_management")
    for lang, words in (("zh", zh_words), ("en", en_words)):
        async with browser(app, lang) as center, browser(app, lang) as desk:
            await sign_in(center, supervisor)
            await sign_in(desk, clerk)
            queue = (await center.get("/web/queue?bucket=overdue&grid_id=G009")).text
            new = (await desk.get("/web/desk?bucket=new")).text
            for html in (queue, new):
                assert words.match(until_of(html, working.case_id)), until_of(html, working.case_id)
                # a wall-clock deadline: its plain town time, no working hours
                assert until_of(html, wall.case_id) == town_time(wall.deadline)
