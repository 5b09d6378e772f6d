"""Helpers of the web-page tests: accounts with fresh names, and signing in as a browser does."""

from __future__ import annotations

import re
import uuid

import httpx

from api.web.accounts import NewAccount, WebRole, create_account
from services.platform.db import SessionFactory

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def new_account(
    sessions: SessionFactory,
    role: WebRole = "supervisor",
    department: str | None = None,
    grids: tuple[str, ...] = ("G001",),
    all_grids: bool = False,
) -> str:
    """A fresh account; a supervisor oversees ``grids`` only unless ``all_grids`` (a head)."""
    username = f"u-{uuid.uuid4().hex[:10]}"
    await create_account(
        sessions,
        NewAccount(username, PASSWORD, role, f"测试 {username}", department, grids, all_grids),
    )
    return username


async def sign_in(
    http: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    """GET the form (its token and cookie), then POST it; the POST's answer."""
    form = await http.get("/web/signin")
    assert form.status_code == 200
    return await http.post(
        "/web/signin",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
    )
