"""The case page: status, who it waits for and until when, the timeline, and the forms.

Reads through ``services.cases.case_view`` and ``services.case_access.may_read`` (as
``GET /cases/{id}``) and acts through ``api.web.case_forms`` (as ``/supervisors``), so no
rule lives here. After an action the browser is sent back to the page (POST/redirect/GET);
a refusal re-renders the page with status 409 and the validator's reason in words. Each
form carries a fresh idempotency key, so a double click or a re-sent form acts once.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.deps import CaseIdPath, State
from api.route_helpers import case_links as links
from api.web import case_forms, case_media, photos, sessions, suspension_forms
from api.web.render import forbidden, redirect, render, safe_next
from schemas.cases.tables import CaseRecord
from schemas.cases.views import CaseView
from schemas.platform.common import Evidence
from services.attachments.library import AttachmentRejected
from services.attachments.policy import UploadRefused
from services.cases import access as case_access
from services.cases import operations as cases
from services.cases import queries as case_queries
from services.temporal_gateway import ActionRefused

router = APIRouter(prefix="/web/cases", include_in_schema=False)


async def _principal(request: Request, state: State) -> sessions.WebPrincipal | None:
    return await sessions.current(request, state.sessions)


async def _page(
    request: Request,
    state: State,
    principal: sessions.WebPrincipal,
    case_id: str,
    *,
    refusal: tuple[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async def projected() -> CaseView | None:
        async with state.sessions() as session:
            return await case_queries.projected_case(session, case_id)

    try:
        view, live = await cases.case_view(state.temporal, case_id, projected)
    except cases.CaseNotFound:
        return render(
            request, "not_found.html", principal=principal, case_id=case_id, status_code=404
        )
    if not case_access.may_read(principal.actor, view, principal.scope):
        reason = "out_of_scope" if principal.actor.role == "supervisor" else "not_yours"
        return forbidden(request, principal, reason)
    case_type = state.catalog.case_type(view.case_type)
    return render(
        request,
        "case.html",
        principal=principal,
        status_code=status_code,
        case=view,
        live=live,
        case_type=case_type,
        department=state.catalog.department(view.department),
        departments=state.catalog.departments,
        forms=case_forms.offered_to(principal.actor, view),
        refusal=refusal,
        done=request.query_params.get("done"),
        idempotency_key=f"web-{uuid.uuid4().hex}",
        temporal_ui=links(state.settings, case_id).temporal_ui,
        suspension=suspension_forms.suspension_request(view),
        photos=await case_media.photos(state.attachments, view, principal.actor.role),
        map=case_media.map_drawing(state.grids, view.grid_id, view.location.lat, view.location.lon),
        max_photos=state.attachments.policy.max_files,
    )


async def _may_not_act(state: State, principal: sessions.WebPrincipal, case_id: str) -> str | None:
    """Why this user may not act on the case at all (a 403 page), before any update runs:
    a supervisor outside their grids, a clerk on a case its department does not hold.
    Whether the action fits the case's stage stays the workflow validator's call."""
    async with state.sessions() as session:
        row = await session.get(CaseRecord, case_id)
    if row is None:
        return None  # not projected yet: the update itself answers (404 or its refusal)
    if not principal.scope.covers(row.grid_id):
        return "out_of_scope"
    if principal.actor.role == "department" and row.department != principal.actor.id:
        return "not_yours"
    return None


@router.get("/{case_id}")
async def case_page(case_id: CaseIdPath, request: Request, state: State) -> Response:
    """案件 / Case: where it stands and what you may do about it now."""
    principal = await _principal(request, state)
    if principal is None:
        return redirect(f"/web/signin?next=/web/cases/{case_id}")
    return await _page(request, state, principal, case_id)


@router.post("/{case_id}/{action}")
async def case_action(case_id: CaseIdPath, action: str, request: Request, state: State) -> Response:
    """One form's action; 403 without the session's CSRF token, 409 with the reason.

    A form that takes photos posts ``multipart/form-data``: streamed through
    ``api.web.photos`` (same limits as ``POST /attachments``; a refusal in words)."""
    principal = await _principal(request, state)
    multipart = photos.is_multipart(request)
    data: dict[str, str] = {}
    if not multipart:
        form_data = await request.form()
        if principal is None:
            raise HTTPException(403, "sign in first")
        sessions.check_csrf(principal.csrf_token, form_data.get(sessions.CSRF_FIELD))
        data = {k: v for k, v in form_data.items() if isinstance(v, str)}
    if principal is None:
        raise HTTPException(403, "sign in first")
    form = case_forms.BY_NAME.get(action)
    if form is None:
        raise HTTPException(404, f"no action {action}")
    if multipart and form.photos is None:
        raise HTTPException(415, "this form takes no files")
    if form.role != principal.actor.role:
        return forbidden(request, principal, "wrong_role")
    refusal = await _may_not_act(state, principal, case_id)
    if refusal is not None:
        return forbidden(request, principal, refusal)
    evidence: list[Evidence] = []
    try:
        if multipart and form.photos is not None:
            data, evidence = await photos.receive(request, state, principal, form.photos)
        key = data.get("idempotency_key", "")
        if not (8 <= len(key) <= 128) or not all(c.isalnum() or c in "_.:-" for c in key):
            key = f"web-{uuid.uuid4().hex}"
        body = case_forms.parse(form, data, evidence)
        await case_forms.run(
            state.temporal,
            state.sessions,
            case_id,
            form,
            body,
            principal.actor,
            key,
            state.attachments,
        )
    except UploadRefused as refused:
        why = (f"upload_{refused.status}", refused.message)
        return await _page(
            request, state, principal, case_id, refusal=why, status_code=refused.status
        )
    except AttachmentRejected as rejected:
        why = ("invalid", f"evidence: {rejected.message}")
        return await _page(request, state, principal, case_id, refusal=why, status_code=422)
    except ValidationError as error:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return await _page(
            request, state, principal, case_id, refusal=("invalid", problem), status_code=422
        )
    except ActionRefused as refused:
        return await _page(
            request,
            state,
            principal,
            case_id,
            refusal=(refused.code, refused.message),
            status_code=409,
        )
    back = data.get("next")
    if back and safe_next(back) == back:
        return redirect(back)
    return redirect(f"/web/cases/{case_id}?done={action}")
