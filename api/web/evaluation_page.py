"""The evaluation page (``/web/evaluation``) and its exports (``/web/export/...``).

The table, the SVG charts (``services.supervision.charts``) and the exports read the same
filters from the query string (period, grid, type, department, source) under the
supervisor's grid scope, so an export holds exactly what the page shows. The period is
given in town dates (UTC+8), ``to`` inclusive, at most ``MAX_DAYS`` long.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import cast, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from markupsafe import Markup

from api.deps import AppState, State
from api.web import sessions
from api.web.queue_pages import FILTER_NAMES, SOURCES, filter_choices
from api.web.render import SECURITY_HEADERS, forbidden, redirect, render
from services.supervision import charts, exports, trends
from services.supervision.trends import PeriodFilter

router = APIRouter(prefix="/web", include_in_schema=False)
TOWN = timezone(timedelta(hours=8))
DEFAULT_DAYS = 7
MAX_DAYS = trends.MAX_DAYS
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _date(request: Request, name: str) -> date | None:
    raw = (request.query_params.get(name) or "").strip()
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


def period_filter(
    request: Request, state: AppState, principal: sessions.WebPrincipal
) -> PeriodFilter:
    """The page's filters from the query string; anything unknown is ignored (any)."""
    today = datetime.now(TOWN).date()
    last = _date(request, "to") or today
    first = _date(request, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    first = max(first, last - timedelta(days=MAX_DAYS - 1))

    def pick(name: str, allowed: list[str] | tuple[str, ...]) -> str | None:
        value = request.query_params.get(name)
        return value if value in allowed else None

    scope = principal.scope
    picked = {name: pick(name, allowed) for name, allowed in filter_choices(state, scope).items()}
    return PeriodFilter(
        start=datetime.combine(first, time(), TOWN).astimezone(UTC),
        end=datetime.combine(last + timedelta(days=1), time(), TOWN).astimezone(UTC),
        **picked,
        scope=scope,
    )


def _grouping(request: Request) -> trends.Grouping:
    return "department" if request.query_params.get("group_by") == "department" else "grid"


def _query(filters: PeriodFilter, group_by: str) -> str:
    """The filters again, for the export links (so an export is what the page shows)."""
    last = (filters.end.astimezone(TOWN) - timedelta(days=1)).date()
    pairs = [
        ("from", filters.start.astimezone(TOWN).date().isoformat()),
        ("to", last.isoformat()),
        ("group_by", group_by),
    ]
    pairs += [(n, v) for n in FILTER_NAMES if (v := getattr(filters, n))]
    return urlencode(pairs)


@router.get("/evaluation")
async def evaluation(request: Request, state: State) -> Response:
    """综合评价 / Evaluation: the table, on-time rate and backlog over time, the exports."""
    principal = await sessions.current(request, state.sessions)
    if principal is None:
        return redirect("/web/signin?next=/web/evaluation")
    if principal.actor.role != "supervisor":
        return forbidden(request, principal, "center_only")
    filters = period_filter(request, state, principal)
    group_by = _grouping(request)
    async with state.sessions() as session:
        total, rows = await trends.table(session, filters, group_by)
        series = await trends.trends(session, filters)
    return render(
        request,
        "evaluation.html",
        principal=principal,
        filters=filters,
        first_day=filters.start.astimezone(TOWN).date().isoformat(),
        last_day=(filters.end.astimezone(TOWN) - timedelta(days=1)).date().isoformat(),
        group_by=group_by,
        total=total,
        rows=rows,
        trends=series,
        day_labels=[f"{day.astimezone(TOWN):%m-%d}" for day in series.days],
        chart=_chart,
        line=charts.Line,
        grid_ids=filter_choices(state, principal.scope)["grid_id"],
        catalog=state.catalog,
        sources=SOURCES,
        export_query=_query(filters, group_by),
    )


def _chart(
    chart_id: str,
    title: str,
    description: str,
    days: list[str],
    lines: list[charts.Line],
    percent: bool,
) -> Markup:
    """The template's chart call: the SVG markup, already escaped inside."""
    return Markup(charts.line_chart(chart_id, title, description, days, lines, percent=percent))


@router.get("/export/{what}.{fmt}")
async def export(what: str, fmt: str, request: Request, state: State) -> Response:
    """Cases, timelines or the evaluation under the page's filters, as CSV or XLSX."""
    principal = await sessions.current(request, state.sessions)
    if principal is None:
        return redirect("/web/signin?next=/web/evaluation")
    if principal.actor.role != "supervisor":
        return forbidden(request, principal, "center_only")
    if what not in get_args(exports.What) or fmt not in MEDIA:
        return render(
            request, "not_found.html", principal=principal, case_id=f"{what}.{fmt}", status_code=404
        )
    filters = period_filter(request, state, principal)
    header, body = await exports.rows(
        state.sessions, cast(exports.What, what), filters, _grouping(request)
    )
    stream = (
        exports.csv_bytes(header, body) if fmt == "csv" else exports.xlsx_bytes(what, header, body)
    )
    first = filters.start.astimezone(TOWN).date().isoformat()
    name = f"gridplus-{what}-{first}.{fmt}"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(stream, media_type=MEDIA[fmt], headers=headers)
