"""The workbench's web pages: sign-in (password or OIDC), sessions, CSRF, languages, and
the case page, server-rendered from ``templates/web`` (see ``api.web.render``).

``router`` is the one thing ``api.main`` includes.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.web import case_page, evaluation_page, oidc, queue_pages, signin

router = APIRouter()
for _module in (signin, oidc, queue_pages, evaluation_page, case_page):
    router.include_router(_module.router)
