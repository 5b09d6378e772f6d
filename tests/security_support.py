"""Helpers shared by the security tests: the real app over ASGI, credentials of every kind."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.rate_limit import TokenBucketLimiter
from api.security import issue_token
from schemas.platform.common import Actor, Role
from services.platform.db import SessionFactory
from services.platform.tokens import sign_body
from settings import Settings

BASE_URL = "http://gridplus"


@dataclass
class Api:
    """The app under test and a client that reaches it in-process (no sockets)."""

    app: FastAPI
    client: httpx.AsyncClient

    @property
    def limiter(self) -> TokenBucketLimiter:
        limiter: TokenBucketLimiter = self.app.state.rate_limiter
        return limiter

    def client_from(self, ip: str) -> httpx.AsyncClient:
        """Another client of the same app, seen as coming from ``ip`` (close it after use)."""
        transport = httpx.ASGITransport(app=self.app, client=(ip, 40000))
        return httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=60)


@asynccontextmanager
async def running_app(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    settings: Settings,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[Api]:
    """``create_app`` with the test server and database, lifespan started, as in production.

    ``raise_app_exceptions=False`` answers an unhandled error with the 500 a client would get
    (instead of raising it in the test), for checks that judge the answer.
    """
    app = create_app(settings, temporal=env.client, sessions=sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=60) as client:
            yield Api(app, client)


class Clock:
    """A monotonic clock the test moves by hand (the rate limiter's, the bot-request pruner's)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module", name="api")
async def limited_api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[Api]:
    """The module's ``api`` fixture: ``running_app`` as in production, rate limits on."""
    async with running_app(env, sessions, settings) as running:
        yield running


@pytest.fixture(scope="module", name="api")
async def unlimited_api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[Api]:
    """The module's ``api`` fixture: ``running_app`` with its rate limits off (they are not
    under test where it is imported)."""
    async with running_app(env, sessions, settings) as running:
        running.limiter.enabled = False
        yield running


@pytest.fixture(scope="module", name="api")
async def unlimited_api_answering(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[Api]:
    """As ``unlimited_api``, an unhandled error answered as the 500 a client gets (for the
    checks that judge the answer)."""
    async with running_app(env, sessions, settings, raise_app_exceptions=False) as running:
        running.limiter.enabled = False
        yield running


def token(settings: Settings, role: Role, subject: str, ttl_seconds: int = 3600) -> str:
    return issue_token(settings.api_token_secret.get_secret_value(), Actor(role=role, id=subject),
                       ttl_seconds)  # fmt: skip


def bearer(settings: Settings, role: Role, subject: str, ttl_seconds: int = 3600) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(settings, role, subject, ttl_seconds)}"}


def forged_token(settings: Settings) -> str:
    """A supervisor token signed with the wrong secret."""
    return issue_token("not-the-server-secret", Actor(role="supervisor", id="mallory"))


def gateway_headers(
    secret: str,
    body: bytes,
    *,
    signed_at: float | None = None,
    signature: str | None = None,
    content_type: str | None = "application/json",
) -> dict[str, str]:
    """The headers a chat-bot gateway sends with ``body``: its timestamp (``signed_at``, now
    by default) and its signature with ``secret``, or ``signature`` as given (a forgery).
    ``content_type`` None leaves it to the client (a multipart body)."""
    stamp = str(int(time.time() if signed_at is None else signed_at))
    headers = {} if content_type is None else {"content-type": content_type}
    headers["x-gridplus-timestamp"] = stamp
    headers["x-gridplus-signature"] = signature or sign_body(secret, stamp, body)
    return headers


def signed(settings: Settings, body: bytes) -> dict[str, str]:
    """The chat-bot gateway's headers for ``body``, signed now with the shared secret."""
    return gateway_headers(settings.bot_secret.get_secret_value(), body)
