"""Helpers of the web-page tests: the app with its lifespan (the ``app`` fixture, imported by
the page tests), a browser on it, accounts with fresh names, and signing in as a browser does."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.web.accounts import NewAccount, WebRole, create_account
from services.platform.db import SessionFactory
from settings import Settings

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@asynccontextmanager
async def running_app(
    settings: Settings, env: WorkflowEnvironment, sessions: SessionFactory
) -> AsyncIterator[httpx.ASGITransport]:
    """The real app under ``settings``, started (its lifespan) and reached in-process."""
    application = create_app(settings, temporal=env.client, sessions=sessions)
    async with application.router.lifespan_context(application):
        yield httpx.ASGITransport(app=application)


@pytest.fixture
async def app(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.ASGITransport]:
    """The real app, started (its lifespan) and reached in-process."""
    async with running_app(settings, env, sessions) as transport:
        yield transport


def browser(transport: httpx.ASGITransport, lang: str | None = None) -> httpx.AsyncClient:
    """A browser of its own (its own cookies) on the app, asking for ``lang`` if given."""
    headers = {"Accept-Language": lang} if lang else None
    return httpx.AsyncClient(transport=transport, base_url="http://gridplus", headers=headers)


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
