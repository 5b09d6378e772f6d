"""The center's queue (``/web/queue``) and a department's desk (``/web/desk``).

Both read ``services.supervision.queue`` (the projection, never Temporal) under the user's
grid scope; every row is one click from its case page, where the action forms are. The
desk's "take the case" button posts to the case page's own action route (same update,
same validator) and comes back here. The center's counts may be a few seconds old (one
count per scope and filters per few seconds, ``queue_cache``); its list is read on every
load (loads asking for the same list at the same moment share one read); the page's
"refresh" link is the live update (no script runs on these pages, see ``api.web.render``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import AppState, State
from api.web import sessions
from api.web.render import forbidden, redirect, render
from schemas.platform.common import CaseSource
from services.supervision import queue as queues
from services.supervision.scope import GridScope

router = APIRouter(prefix="/web", include_in_schema=False)
SOURCES: tuple[str, ...] = get_args(CaseSource)
# The case filters the queue and the evaluation share (``templates/web/_case_filters.html``).
FILTER_NAMES = ("grid_id", "case_type", "department", "source")


def filter_choices(state: AppState, scope: GridScope) -> dict[str, list[str] | tuple[str, ...]]:
    """What each shared filter may be: the grids in the user's scope, the catalog's types and
    departments, the intake sources; anything else in the query string means "any"."""
    return {
        "grid_id": [g for g in state.grids.grid_ids if scope.covers(g)],
        "case_type": [t.code for t in state.catalog.case_types],
        "department": [d.code for d in state.catalog.departments],
        "source": SOURCES,
    }


def _param(request: Request, name: str, allowed: Collection[str] | None = None) -> str | None:
    """A filter from the query string: short, and one of ``allowed`` when given."""
    value = (request.query_params.get(name) or "").strip()
    if not value or len(value) > 64:
        return None
    if allowed is not None and value not in allowed:
        return None
    return value


def _filter_query(filters: queues.QueueFilter) -> str:
    """The filters as ``&name=value`` for the bucket links (so a tab keeps them)."""
    pairs = [(n, v) for n in FILTER_NAMES if (v := getattr(filters, n))]
    return "&" + urlencode(pairs) if pairs else ""


@router.get("/queue")
async def center_queue(request: Request, state: State) -> Response:
    """工作台 / The center's queue: what needs a person now, in the supervisor's grids."""
    async with state.sessions() as session:  # one connection for the session and the queue
        principal = await sessions.current_in(request, session)
        if principal is None:
            return redirect("/web/signin?next=/web/queue")
        if principal.actor.role != "supervisor":
            return forbidden(request, principal, "center_only")
        scope = principal.scope
        choices = filter_choices(state, scope)
        picked = {name: _param(request, name, allowed) for name, allowed in choices.items()}
        filters = queues.QueueFilter(**picked, scope=scope)
        bucket = _param(request, "bucket", queues.CENTER_BUCKETS) or "returned"
        queue = await queues.center_queue(
            session,
            filters,
            bucket,
            cache=state.queue_counts,
            lists=state.queue_lists,
            sessions=state.sessions,
        )
    return render(
        request,
        "queue.html",
        principal=principal,
        queue=queue,
        buckets=queues.CENTER_BUCKETS,
        filters=filters,
        grid_ids=choices["grid_id"],
        catalog=state.catalog,
        sources=SOURCES,
        filter_query=_filter_query(filters),
        cache_seconds=round(state.queue_counts.seconds),
    )


@router.get("/desk")
async def department_desk(request: Request, state: State) -> Response:
    """部门工作台 / A department's desk: its new, in-hand and overdue cases."""
    principal = await sessions.current(request, state.sessions)
    if principal is None:
        return redirect("/web/signin?next=/web/desk")
    if principal.actor.role != "department":
        return forbidden(request, principal, "department_only")
    bucket = _param(request, "bucket", queues.DESK_BUCKETS) or "new"
    async with state.sessions() as session:
        queue = await queues.desk_queue(session, principal.actor.id, bucket)
    return render(
        request,
        "desk.html",
        principal=principal,
        queue=queue,
        buckets=queues.DESK_BUCKETS,
        catalog=state.catalog,
        department=state.catalog.department(principal.actor.id),
        idempotency_key=f"web-{uuid.uuid4().hex}",
    )
