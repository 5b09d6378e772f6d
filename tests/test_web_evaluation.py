"""The evaluation page, its SVG charts and its CSV/XLSX exports (real app and database).

Each test writes projection rows in a week of its own in the past (so no other test's cases
fall in its period) and checks the numbers, the charts' series, that an export holds the
rows the page's filters select (opened with openpyxl / csv), and the grid scope.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import openpyxl

from services.platform.db import SessionFactory
from tests.queue_support import event, record, store
from tests.web_support import app, browser, new_account, sign_in

__all__ = ["app"]  # a fixture, imported

TEN = tuple(f"G{n:03d}" for n in range(1, 11))
WEEK = "from=2020-03-02&to=2020-03-08"
MONDAY = datetime(2020, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in town


async def the_week(sessions: SessionFactory, monday: datetime = MONDAY) -> dict[str, str]:
    """In G001: one closed on time, one closed late (urged), one still open; in G002 one
    cancelled; in G021 (outside G001–G010) one open. Returns their ids by name."""
    on_time = record("G001", "closed", reported_at=monday, closed_at=monday + timedelta(days=1))
    late = record(
        "G001",
        "closed",
        department="fire",
        reported_at=monday + timedelta(days=1),
        closed_at=monday + timedelta(days=3),
    )
    still_open = record("G001", "department_handling", reported_at=monday + timedelta(days=2))
    cancelled = record(
        "G002", "cancelled", reported_at=monday, closed_at=monday + timedelta(hours=3)
    )
    elsewhere = record("G021", "department_handling", reported_at=monday + timedelta(days=2))
    events = [
        event(on_time.case_id, 1, "filed", "filed", monday),
        event(on_time.case_id, 2, "closed", "closed", monday + timedelta(days=1)),
        event(late.case_id, 1, "filed", "filed", monday + timedelta(days=1)),
        event(
            late.case_id, 2, "supervisor_urge", "department_handling", monday + timedelta(days=2)
        ),
        event(late.case_id, 3, "closed", "closed", monday + timedelta(days=3)),
        event(still_open.case_id, 1, "filed", "filed", monday + timedelta(days=2)),
        event(cancelled.case_id, 1, "cancelled", "cancelled", monday + timedelta(hours=3)),
        event(elsewhere.case_id, 1, "filed", "filed", monday + timedelta(days=2)),
    ]
    await store(sessions, [on_time, late, still_open, cancelled, elsewhere], events)
    return {
        "on_time": on_time.case_id,
        "late": late.case_id,
        "open": still_open.case_id,
        "cancelled": cancelled.case_id,
        "elsewhere": elsewhere.case_id,
    }


async def test_the_evaluation_page_its_charts_and_exports_in_scope(
    app: httpx.ASGITransport, sessions: SessionFactory
) -> None:
    ids = await the_week(sessions)
    async with browser(app) as web:
        await sign_in(web, await new_account(sessions, grids=TEN))
        page = await web.get(f"/web/evaluation?{WEEK}")
        assert page.status_code == 200, page.text
        html = page.text
        # the total row: 4 cases in scope (G021's is not), 2 closed, 1 of them on time
        total = html.split('<tr data-key="*">')[1].split("</tr>")[0]
        assert [cell.split("<")[0] for cell in total.split("<td>")[1:]] == [
            "4",
            "2",
            "1",
            "0",
            "50.0%",
            "66.7%",
            "–",
        ]
        assert '<tr data-key="G021">' not in html and '<tr data-key="G001">' in html
        for chart in ("ontime-grid", "backlog-grid", "ontime-department", "backlog-department"):
            assert f'<svg id="chart-{chart}"' in html
        assert 'data-series="G001"' in html and 'data-series="G021"' not in html
        assert "/web/export/cases.xlsx?from=2020-03-02&amp;to=2020-03-08" in html

        book = await web.get(f"/web/export/cases.xlsx?{WEEK}")
        assert book.status_code == 200
        assert "spreadsheetml" in book.headers["content-type"]
        sheet = openpyxl.load_workbook(io.BytesIO(book.content), read_only=True)["cases"]
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "case_id"
        assert sorted(r[0] for r in rows[1:]) == sorted(
            ids[n] for n in ("on_time", "late", "open", "cancelled")
        )

        fire = await web.get(f"/web/export/cases.csv?{WEEK}&department=fire")
        lines = list(csv.reader(io.StringIO(fire.content.decode("utf-8-sig"))))
        assert [line[0] for line in lines[1:]] == [ids["late"]]

        timeline = await web.get(f"/web/export/timeline.csv?{WEEK}&grid_id=G001")
        entries = list(csv.reader(io.StringIO(timeline.content.decode("utf-8-sig"))))
        assert [(e[0], e[3]) for e in entries[1:]] == sorted(
            [
                (ids["on_time"], "filed"),
                (ids["on_time"], "closed"),
                (ids["late"], "filed"),
                (ids["late"], "supervisor_urge"),
                (ids["late"], "closed"),
                (ids["open"], "filed"),
            ],
            key=lambda entry: entry[0],  # by case, each in its timeline's order (stable)
        )

        evaluation = await web.get(f"/web/export/evaluation.xlsx?{WEEK}&group_by=grid")
        table = openpyxl.load_workbook(io.BytesIO(evaluation.content))["evaluation"]
        keyed = {row[1]: row for row in table.iter_rows(min_row=2, values_only=True)}
        assert set(keyed) == {"*", "G001", "G002"}
        assert keyed["G001"][2:4] == (3, 2) and keyed["G001"][8] == 0.5

    async with browser(app) as head:
        await sign_in(head, await new_account(sessions, all_grids=True))
        everything = await head.get(f"/web/export/cases.csv?{WEEK}")
        assert ids["elsewhere"] in everything.text
    async with browser(app) as clerk:
        await sign_in(clerk, await new_account(sessions, "department", "fire"))
        assert (await clerk.get(f"/web/export/cases.csv?{WEEK}")).status_code == 403
        assert (await clerk.get("/web/evaluation")).status_code == 403


async def test_the_backlog_follows_the_days(
    app: httpx.ASGITransport, sessions: SessionFactory
) -> None:
    """Backlog per day and on-time rate per day, read through the chart's own numbers."""
    from services.supervision import trends
    from services.supervision.scope import scope_for

    await the_week(
        sessions, datetime(2019, 6, 3, 2, 0, tzinfo=UTC)
    )  # > LOOKBACK from the other week
    start = datetime(2019, 6, 2, 16, 0, tzinfo=UTC)  # 2019-06-03 00:00 in town
    filters = trends.PeriodFilter(
        start=start, end=start + timedelta(days=7), scope=scope_for(False, ("G001",))
    )
    async with sessions() as session:
        result = await trends.trends(session, filters)
    g001 = next(s for s in result.by_group["grid"] if s.key == "G001")
    # day 1: reported and open; day 2: the first closed (on time), the second open; day 3:
    # the third reported; day 4: the late one closed; then only the open one remains
    assert g001.backlog == [1, 1, 2, 1, 1, 1, 1]
    assert g001.on_time == [None, 1.0, None, 0.0, None, None, None]
