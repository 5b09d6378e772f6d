"""Browser sessions and CSRF: who is signed in, as which ``Actor``, and is this POST theirs.

The cookie ``gridplus_web`` holds a random id; the database keeps only its SHA-256
(``web_session``), the principal and a per-session CSRF token (synchronizer pattern): every
form carries the token in a hidden field and every POST is refused with 403 unless it
matches. The sign-in form, before any session exists, uses a double-submit cookie instead.
The cookie is HttpOnly, SameSite=Lax (the OIDC provider's redirect back must carry the
login cookie) and Secure whenever the site is served over https (always in production).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.platform.accounts import WebSession
from schemas.platform.common import Actor
from services.platform.db import SessionFactory, utc
from services.supervision.scope import EVERYWHERE, GridScope, scope_for
from settings import Settings

SESSION_COOKIE = "gridplus_web"
PRE_CSRF_COOKIE = "gridplus_csrf"  # double-submit token of the sign-in form
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class WebPrincipal:
    """The signed-in person: the ``Actor`` every service sees, and what the pages show."""

    actor: Actor
    username: str
    display_name: str
    grids: tuple[str, ...]
    all_grids: bool
    csrf_token: str
    key_hash: str

    @property
    def scope(self) -> GridScope:
        """The grids a supervisor sees and acts on (clerks: their department's rules)."""
        if self.actor.role != "supervisor":
            return EVERYWHERE
        return scope_for(self.all_grids, self.grids)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def secure_cookies(settings: Settings, request: Request) -> bool:
    """Secure in production always; elsewhere when the request itself came over https."""
    return settings.environment == "production" or request.url.scheme == "https"


async def start_session(
    sessions: SessionFactory,
    settings: Settings,
    *,
    actor: Actor,
    username: str,
    display_name: str,
    grids: tuple[str, ...],
    all_grids: bool,
    method: str,
) -> str:
    """A new session row; the cookie value (only its hash is stored)."""
    key = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = WebSession(
        key_hash=_digest(key),
        username=username,
        display_name=display_name,
        role=actor.role,
        actor_id=actor.id,
        grids=list(grids),
        all_grids=all_grids,
        method=method,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(hours=settings.web_session_hours),
    )
    async with sessions() as session, session.begin():
        # expired sessions open nothing already; dropping them here keeps the table small
        await session.execute(delete(WebSession).where(col(WebSession.expires_at) < now))
        session.add(row)
    return key


def set_session_cookie(response: Response, request: Request, settings: Settings, key: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        key,
        max_age=int(settings.web_session_hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings, request),
    )


async def current(request: Request, sessions: SessionFactory) -> WebPrincipal | None:
    """The principal of this browser's live session, or None (no cookie, ended, expired)."""
    if _cookie_key(request) is None:
        return None
    async with sessions() as session:
        return await current_in(request, session)


async def current_in(request: Request, session: AsyncSession) -> WebPrincipal | None:
    """``current``, read in a database session the page goes on to use: a page that reads
    more (the queue) then takes one connection from the pool, not two (each checkout costs
    a round trip, the pool's liveness ping)."""
    key = _cookie_key(request)
    if key is None:
        return None
    row = await session.get(WebSession, _digest(key))
    if row is None or (utc(row.expires_at) or datetime.min.replace(tzinfo=UTC)) <= datetime.now(
        UTC
    ):
        return None
    return WebPrincipal(
        actor=Actor(role=row.role, id=row.actor_id),
        username=row.username,
        display_name=row.display_name,
        grids=tuple(row.grids),
        all_grids=row.all_grids,
        csrf_token=row.csrf_token,
        key_hash=row.key_hash,
    )


def _cookie_key(request: Request) -> str | None:
    key = request.cookies.get(SESSION_COOKIE)
    return key if key and len(key) <= 200 else None


async def end_session(sessions: SessionFactory, principal: WebPrincipal) -> None:
    """Sign-out: the row goes, so the cookie opens nothing on any API process."""
    async with sessions() as session, session.begin():
        await session.execute(
            delete(WebSession).where(col(WebSession.key_hash) == principal.key_hash)
        )


def check_csrf(expected: str | None, given: object) -> None:
    """403 unless the form's token equals the expected one (constant-time)."""
    if (
        not expected
        or not isinstance(given, str)
        or not hmac.compare_digest(expected.encode(), given.encode())
    ):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")


def pre_csrf_token(request: Request) -> str:
    """The sign-in form's double-submit token: the cookie's, or a fresh one."""
    return request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(32)


def set_pre_csrf_cookie(
    response: Response, request: Request, settings: Settings, token: str
) -> None:
    response.set_cookie(
        PRE_CSRF_COOKIE,
        token,
        path="/web",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(settings, request),
    )
