"""Rendering a page: the language, the security headers, and what every page's layout needs.

No script runs on these pages (plain forms), so the Content-Security-Policy forbids every
script; frames are refused (click-jacking a form), and nothing is cached (a shared
computer's back button must not show a case after sign-out).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.web.i18n import Lang, environment, negotiate
from api.web.sessions import CSRF_FIELD, WebPrincipal
from schemas.platform.common import town_time

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def render(
    request: Request,
    template: str,
    *,
    principal: WebPrincipal | None = None,
    status_code: int = 200,
    lang: Lang | None = None,
    **context: Any,
) -> HTMLResponse:
    """``templates/web/<template>`` in the user's language, with the layout's variables."""
    lang = lang or negotiate(request)
    html = (
        environment(lang)
        .get_template(template)
        .render(
            principal=principal,
            csrf_field=CSRF_FIELD,
            csrf_token=principal.csrf_token if principal else "",
            path=request.url.path,
            local_time=town_time,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def redirect(url: str) -> RedirectResponse:
    """303 See Other: after a POST the browser GETs the target (no re-post on reload)."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def safe_next(target: str | None) -> str:
    """Only a path of these pages: never an open redirect to another site."""
    if target and target.startswith("/web/") and not target.startswith("//"):
        return target
    return "/web/"


def forbidden(request: Request, principal: WebPrincipal | None, reason: str) -> HTMLResponse:
    """The 403 page: why this user may not see or do this (``reason`` picks the words)."""
    return render(request, "forbidden.html", principal=principal, reason=reason, status_code=403)
