"""The supervisor board: one read-only HTML page for the linkage center's wall screen.

Server-rendered with Jinja2, no JavaScript and no external resource, so that it works on an
offline network and a strict Content-Security-Policy can forbid every script. A browser
cannot send an ``Authorization`` header from a bookmark, so this page (and only this page)
also takes the token as ``?token=`` (then moved into an HttpOnly cookie by a redirect, so it
does not stay in the address bar or the history) or from that cookie.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from api.auth import authenticate
from api.deps import State
from api.evaluation_report import build_report
from api.route_helpers import case_links
from api.security import InvalidToken, bearer_token
from api.web.i18n import html_environment
from schemas.platform.common import Actor, Line, town_time
from schemas.supervision.evaluation import STAGE_LABELS, STAGE_NAMES, GroupBy
from services.supervision import board

router = APIRouter(tags=["pages"], include_in_schema=False)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "pages"
COOKIE = "gridplus_token"
COOKIE_MAX_AGE = 12 * 3600
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
GROUPS: dict[GroupBy, str] = {
    "department": "部门 Department",
    "grid": "网格 Grid",
    "steward": "管家 Steward",
    "case_type": "类型 Case type",
}


def duration(seconds: float | None) -> str:
    """A stage duration the way a supervisor says it: 2d 3h, 1h 05m, 12m, 40s."""
    if seconds is None:
        return "–"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


@lru_cache
def environment() -> Environment:
    env = html_environment(TEMPLATES)
    env.filters.update(duration=duration, percent=percent, local_time=town_time)
    return env


async def _principal(state: State, token: str) -> Actor:
    try:
        actor = await authenticate(state.settings, state.sessions, state.revocations, token)
    except InvalidToken as error:
        raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from error
    if actor.role != "supervisor":
        raise HTTPException(403, f"a {actor.role} may not see the supervisor board")
    return actor


@router.get("/supervisor", response_class=HTMLResponse)
async def supervisor_page(
    request: Request,
    state: State,
    group_by: GroupBy = "department",
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    token: Annotated[Line | None, Query(max_length=2000)] = None,
    authorization: Annotated[str | None, Header()] = None,
    cookie_token: Annotated[str | None, Cookie(alias=COOKIE)] = None,
) -> Response:
    """督办看板 / Supervisor board: grid map, top overdue cases, evaluation table."""
    bearer = bearer_token(authorization)
    candidate = bearer or token or cookie_token
    if candidate is None:
        raise HTTPException(401, "sign in with ?token=", {"WWW-Authenticate": "Bearer"})
    actor = await _principal(state, candidate)
    if token is not None and bearer is None:
        # move the token out of the URL (history, logs, shoulder surfers) into a cookie
        remaining = request.url.remove_query_params("token").query
        target = "/supervisor" + (f"?{remaining}" if remaining else "")
        redirect = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        redirect.set_cookie(
            COOKIE,
            token,
            max_age=COOKIE_MAX_AGE,
            path="/supervisor",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return redirect

    now = datetime.now(UTC)
    async with state.sessions() as session:
        loads = await board.grid_loads(session)
        overdue = await board.top_overdue(session)
        report = await build_report(state, session, group_by, now - timedelta(days=days), now)
    town = board.town_map(state.grids, loads)
    catalog = state.catalog
    overdue_rows = [
        {
            "case": case,
            "type": catalog.case_type(case.case_type),
            "department": catalog.department(case.department),
            "temporal_ui": case_links(state.settings, case.case_id).temporal_ui,
        }
        for case in overdue
    ]
    html = (
        environment()
        .get_template("supervisor.html")
        .render(
            actor=actor,
            now=now,
            days=days,
            group_by=group_by,
            groups=GROUPS,
            town=town,
            open_total=sum(load.open for load in loads.values()),
            overdue_total=sum(load.overdue for load in loads.values()),
            suspended_total=sum(load.suspended for load in loads.values()),
            overdue_rows=overdue_rows,
            report=report,
            stages=[(name, STAGE_LABELS[name]) for name in STAGE_NAMES],
            fills=[board.fill_for(board.GridLoad(open=o, overdue=d)) for o, d in LEGEND],
            legend=LEGEND_LABELS,
            temporal_ui=state.settings.temporal_ui_url,
            namespace=state.settings.temporal_namespace,
        )
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


LEGEND = ((0, 0), (1, 0), (5, 0), (1, 1), (2, 2), (3, 3))
LEGEND_LABELS = (
    "无在办 none open",
    "在办 1–4 open",
    "在办 ≥5 open",
    "超期 1 overdue",
    "超期 2 overdue",
    "超期 ≥3 overdue",
)
