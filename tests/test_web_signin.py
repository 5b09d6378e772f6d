"""Sign-in, sessions, CSRF, lock-out and languages of the web pages, on the real app and DB.

Each test drives the app the way a browser does (cookies kept by the client, forms posted
with the token the page carried); the browser itself is in ``test_web_browser.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from pydantic import SecretStr
from sqlalchemy import update
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.web import accounts
from api.web.i18n import LOCALES, translations
from schemas.platform.accounts import WebSession
from services.platform.db import SessionFactory
from settings import Settings
from tests.web_support import PASSWORD, csrf_of, new_account, sign_in

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def web(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client (keeps cookies) on the real app."""
    app = create_app(settings, temporal=env.client, sessions=sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gridplus") as client:
            yield client


async def test_sign_in_session_cookie_and_sign_out(
    web: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    username = await new_account(sessions)
    assert (await web.get("/web/")).headers["location"] == "/web/signin"
    answer = await sign_in(web, username)
    assert answer.status_code == 303 and answer.headers["location"] == "/web/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "gridplus_web=" in c)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    home = await web.get("/web/")
    assert home.status_code == 200 and f"测试 {username}" in home.text
    assert '<p id="grids">负责网格： G001</p>' in home.text
    assert "script-src" not in home.headers["content-security-policy"]
    stolen = web.cookies["gridplus_web"]

    # sign-out is a POST: without the session's token it is refused, and nothing ends
    assert (await web.post("/web/signout", data={})).status_code == 403
    assert (await web.get("/web/")).status_code == 200
    out = await web.post("/web/signout", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303 and out.headers["location"] == "/web/signin"
    assert (await web.get("/web/")).headers["location"] == "/web/signin"
    # the old cookie value opens nothing any more (the session row is gone)
    web.cookies.set("gridplus_web", stolen)
    assert (await web.get("/web/")).status_code == 303


async def test_production_cookies_are_secure(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> None:
    """Behind a TLS-terminating proxy the app sees http, but production cookies say Secure."""
    # production refuses a placeholder link secret for attachments (issue 16): a random one
    secret = SecretStr("3f1c9a7e5b2d4c6e8a0b1d3f5e7c9a2b4d6f8e0a1c3e5b7d")
    production = settings.model_copy(
        update={"environment": "production", "attachments_url_secret": secret}
    )
    app = create_app(production, temporal=env.client, sessions=sessions)
    username = await new_account(sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gridplus") as web:
            form = await web.get("/web/signin")
            assert "Secure" in form.headers["set-cookie"]
            data = {"username": username, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
            web.cookies.set("gridplus_csrf", csrf_of(form.text))  # httpx keeps no Secure cookie
            answer = await web.post("/web/signin", data=data)
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "gridplus_web=" in c)
    assert "Secure" in cookie and "HttpOnly" in cookie


async def test_expired_sessions_open_nothing(
    web: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    username = await new_account(sessions)
    await sign_in(web, username)
    assert (await web.get("/web/")).status_code == 200
    async with sessions() as session, session.begin():
        await session.execute(
            update(WebSession)
            .where(col(WebSession.username) == username)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await web.get("/web/")).headers["location"] == "/web/signin"


async def test_sign_in_without_csrf_token_is_refused(
    web: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    username = await new_account(sessions)
    form = await web.get("/web/signin")
    body = {"username": username, "password": PASSWORD}
    assert (await web.post("/web/signin", data=body)).status_code == 403
    wrong = await web.post("/web/signin", data={**body, "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    assert "gridplus_web" not in web.cookies
    ok = await web.post("/web/signin", data={**body, "csrf_token": csrf_of(form.text)})
    assert ok.status_code == 303


async def test_five_wrong_passwords_lock_the_account_on_every_process(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> None:
    """Failures counted on two API processes (two apps, one DB) add up to one lock-out."""
    username = await new_account(sessions)
    apps = [create_app(settings, temporal=env.client, sessions=sessions) for _ in range(2)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://gridplus")
            for a in apps
        ]
        for attempt in range(5):
            wrong = await sign_in(clients[attempt % 2], username, "not the password")
            assert wrong.status_code == 401, attempt
            assert "用户名或密码错误" in wrong.text
        locked = await sign_in(clients[1], username)  # the right password, now refused
        assert locked.status_code == 423 and "锁定" in locked.text
        assert "gridplus_web" not in clients[1].cookies
        assert await accounts.is_locked(sessions, settings, username)
        assert await accounts.unlock(sessions, username) == 5
        assert (await sign_in(clients[0], username)).status_code == 303
        for client in clients:
            await client.aclose()


async def test_fewer_failures_then_success_clear_the_count(
    web: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    username = await new_account(sessions)
    for _ in range(4):
        assert (await sign_in(web, username, "nope-nope-nope")).status_code == 401
    assert (await sign_in(web, username)).status_code == 303
    assert not await accounts.is_locked(sessions, settings, username)
    assert await accounts.unlock(sessions, username) == 0


async def test_a_huge_form_is_refused_before_it_is_parsed(web: httpx.AsyncClient) -> None:
    answer = await web.post("/web/signin", data={"username": "x", "password": "p" * 70_000})
    assert answer.status_code == 413


async def test_unknown_user_is_refused_like_a_wrong_password(web: httpx.AsyncClient) -> None:
    answer = await sign_in(web, "nobody-at-all")
    assert answer.status_code == 401 and "用户名或密码错误" in answer.text


async def test_language_cookie_accept_language_and_default_chinese(
    web: httpx.AsyncClient,
) -> None:
    zh = await web.get("/web/signin")
    assert '<html lang="zh-CN">' in zh.text and "登录" in zh.text and "Sign in" not in zh.text
    en = await web.get("/web/signin", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in en.text and "Username" in en.text and "用户名" not in en.text
    switch = await web.get("/web/lang/en", params={"next": "/web/signin"})
    assert switch.status_code == 303 and switch.headers["location"] == "/web/signin"
    chosen = await web.get("/web/signin", headers={"Accept-Language": "zh-CN"})
    assert "Username" in chosen.text  # the cookie wins over the browser's header
    # never an open redirect
    away = await web.get("/web/lang/zh", params={"next": "https://evil.example/"})
    assert away.headers["location"] == "/web/"


def test_every_page_text_has_a_chinese_translation() -> None:
    """Each string marked in templates/web and api/web is in the zh catalogue, translated."""
    method_map = [("api/web/**.py", "python"), ("templates/web/**.html", "jinja2")]
    options = {"templates/web/**.html": {"extensions": "jinja2.ext.i18n"}}
    marked = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(ROOT), method_map, options)
    }
    assert len(marked) > 50
    zh = translations("zh")
    untranslated = sorted(m for m in marked if zh.gettext(m) == m)
    assert not untranslated, untranslated
    assert (LOCALES / "en" / "LC_MESSAGES" / "messages.po").exists()


async def test_demo_accounts_sign_in_and_get_new_passwords_each_time(
    web: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    first = await accounts.ensure_demo_accounts(sessions)
    assert [(u, r) for u, _, r in first] == [
        ("center-head", "supervisor"),
        ("center-duty", "supervisor"),
        ("clerk-urban", "department"),
    ]
    second = await accounts.ensure_demo_accounts(sessions)
    banner = accounts.demo_banner(second, "http://127.0.0.1:8000/")
    assert banner[0].endswith("http://127.0.0.1:8000/web/signin")
    assert f"center-head / {second[0][1]}" in banner[1]
    assert first[0][1] != second[0][1]
    assert (await sign_in(web, "center-head", first[0][1])).status_code == 401
    assert (await sign_in(web, "center-head", second[0][1])).status_code == 303
    await accounts.unlock(sessions, "center-head")


def test_accounts_command_line(database_url: str) -> None:
    env = {**os.environ, "GRIDPLUS_DATABASE_URL": database_url}
    name = f"cli-{os.getpid()}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.web.accounts", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    made = run(
        "create",
        name,
        "--role",
        "department",
        "--department",
        "fire",
        "--password",
        "long enough pw",
    )
    assert made.returncode == 0, made.stderr
    again = run("create", name, "--role", "supervisor", "--password", "long enough pw")
    assert again.returncode == 2 and "exists" in again.stderr
    short = run("create", f"{name}-2", "--role", "supervisor", "--password", "short")
    assert short.returncode == 2 and "at least" in short.stderr
    listed = run("list")
    assert f"{name}\tdepartment\tfire\t-" in listed.stdout
    unlocked = run("unlock", name)
    assert unlocked.returncode == 0 and "unlocked" in unlocked.stdout


def test_production_sso_needs_a_strong_session_secret_and_an_https_issuer() -> None:
    """Password sign-in needs no secret (sessions are random ids in the DB); OIDC signs its
    login cookie with ``GRIDPLUS_WEB_SESSION_SECRET``, so production refuses a weak one."""
    strong: dict[str, Any] = {
        "environment": "production",
        "temporal_api_key": "k",
        "bot_secret": "b7Qz0pX3mN8vL2rT6yH1jK5wE9sD4fG0",
        "api_token_secret": "Zx8Cv7Bn6Mq5Wr4Ty3Ui2Op1As0Df9Gh",
        "database_url": "postgresql+asyncpg://u@db/gridplus",
        "api_metrics_enabled": False,
        "device_key_pepper": "Tn5bW9xE2kR7mQ4vH8cJ3pZ6yF1dL0gS5aU9eK2wN7r",
    }
    assert Settings(_env_file=None, **strong).oidc_issuer is None  # no SSO: nothing to sign
    sso: dict[str, Any] = {
        **strong,
        "oidc_issuer": "https://sso.province.example",
        "oidc_client_id": "gridplus",
        "oidc_client_secret": "issued-by-the-sso-1234",
    }
    with pytest.raises(ValueError, match="GRIDPLUS_WEB_SESSION_SECRET must be at least"):
        Settings(_env_file=None, **sso)
    secret = "Qw3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz0Xc"
    with pytest.raises(ValueError, match="GRIDPLUS_WEB_SESSION_SECRET must differ"):
        Settings(_env_file=None, **{**sso, "web_session_secret": strong["bot_secret"]})
    with pytest.raises(ValueError, match="GRIDPLUS_OIDC_ISSUER must be an https"):
        Settings(
            _env_file=None,
            **{**sso, "web_session_secret": secret, "oidc_issuer": "http://sso.example"},
        )
    with pytest.raises(ValueError, match="GRIDPLUS_OIDC_CLIENT_SECRET is a placeholder"):
        Settings(
            _env_file=None,
            **{**sso, "web_session_secret": secret, "oidc_client_secret": "dev-only-x"},
        )
    assert Settings(_env_file=None, **sso, web_session_secret=secret).web_session_hours == 12.0
