"""Sign-in with a password, sign-out, the language switch and the home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from api.deps import State
from api.web import accounts, sessions
from api.web.i18n import LANG_COOKIE, LANGS
from api.web.oidc import oidc_enabled
from api.web.render import redirect, render, safe_next
from schemas.platform.common import Actor

router = APIRouter(prefix="/web", include_in_schema=False)


async def signed_in(request: Request, state: State) -> sessions.WebPrincipal | None:
    return await sessions.current(request, state.sessions)


def signin_page(
    request: Request, state: State, *, error: str | None = None, status_code: int = 200
) -> Response:
    token = sessions.pre_csrf_token(request)
    response = render(
        request,
        "signin.html",
        status_code=status_code,
        error=error,
        form_token=token,
        next=safe_next(request.query_params.get("next")),
        oidc=oidc_enabled(state.settings),
    )
    sessions.set_pre_csrf_cookie(response, request, state.settings, token)
    return response


@router.get("/signin")
async def signin_form(request: Request, state: State) -> Response:
    """The sign-in form (and the SSO button when OIDC is configured)."""
    return signin_page(request, state)


@router.post("/signin")
async def signin(
    request: Request,
    state: State,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form(max_length=500)] = None,
) -> Response:
    """Check the password (argon2, with the lock-out) and start a session."""
    sessions.check_csrf(request.cookies.get(sessions.PRE_CSRF_COOKIE), csrf_token)
    try:
        account = await accounts.check_password(state.sessions, state.settings, username, password)
    except accounts.SignInRefused as refused:
        code = 423 if refused.code == "locked" else 401
        return signin_page(request, state, error=refused.code, status_code=code)
    actor_id = account.department if account.role == "department" else account.username
    key = await sessions.start_session(
        state.sessions,
        state.settings,
        actor=Actor(role=account.role, id=actor_id or account.username),
        username=account.username,
        display_name=account.display_name,
        grids=tuple(account.grids),
        all_grids=account.all_grids,
        method="password",
    )
    response = redirect(safe_next(next))
    sessions.set_session_cookie(response, request, state.settings, key)
    response.delete_cookie(sessions.PRE_CSRF_COOKIE, path="/web")
    return response


@router.post("/signout")
async def signout(
    request: Request, state: State, csrf_token: Annotated[str | None, Form()] = None
) -> Response:
    """End the session on the server (every process) and drop the cookie."""
    principal = await signed_in(request, state)
    if principal is None:
        return redirect("/web/signin")
    sessions.check_csrf(principal.csrf_token, csrf_token)
    await sessions.end_session(state.sessions, principal)
    response = redirect("/web/signin")
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{lang}")
async def choose_language(lang: str, request: Request) -> Response:
    """Remember the user's language in a cookie (a preference, not an action: a GET)."""
    response = redirect(safe_next(request.query_params.get("next")))
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="lax")
    return response


@router.get("/")
async def home(request: Request, state: State) -> Response:
    """Who is signed in, and a box to open a case by its id."""
    principal = await signed_in(request, state)
    if principal is None:
        return redirect("/web/signin")
    return render(request, "home.html", principal=principal)


@router.get("/go")
async def go_to_case(request: Request) -> Response:
    """The home page's case-id box (a GET form) lands on the case page."""
    case_id = (request.query_params.get("case_id") or "").strip()
    if not case_id or len(case_id) > 64 or not all(c.isalnum() or c in "_.:-" for c in case_id):
        return redirect("/web/")
    return redirect(f"/web/cases/{case_id}")
