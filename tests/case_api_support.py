"""The real app over ASGI as the case-API tests call it: a token per caller, an optional
idempotency key, a case read back as JSON until it gets somewhere (the ``api`` fixture,
imported by the tests that use it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.security import issue_token
from schemas.platform.common import Actor, Role
from services.platform.db import SessionFactory
from settings import Settings
from tests.support import track


class Api:
    """The real app over ASGI; every call names its caller and, if given, its key."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.secret = settings.api_token_secret.get_secret_value()

    def auth(self, role: Role, subject: str, key: str | None = None) -> dict[str, str]:
        token = issue_token(self.secret, Actor(role=role, id=subject))
        headers = {"Authorization": f"Bearer {token}"}
        return {**headers, "Idempotency-Key": key} if key else headers

    async def post(
        self,
        path: str,
        body: dict[str, Any],
        role: Role = "supervisor",
        subject: str = "center-li",
        key: str | None = None,
    ) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.auth(role, subject, key))

    async def case(self, case_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/cases/{case_id}", headers=self.auth("supervisor", "center-li")
        )
        body: dict[str, Any] = response.json()
        return body

    async def until(
        self, case_id: str, want: str | Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """The case once it has status ``want`` (or ``want(case)`` holds)."""
        for _ in range(400):
            body = await self.case(case_id)
            if body.get("status") == want if isinstance(want, str) else want(body):
                return body
            await asyncio.sleep(0.05)
        raise AssertionError(f"{case_id}: {body.get('status')} {body.get('waiting_for')}")

    async def create(self, case_type: str, at: dict[str, float], **extra: Any) -> str:
        """A citizen's report; its case id (tracked for clean-up)."""
        response = await self.post(
            "/cases",
            {"case_type": case_type, "location": at, **extra},
            role="citizen",
            subject="c-7",
        )
        assert response.status_code == 202, response.text
        return track(response.json()["case_id"])


@pytest.fixture
async def api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[Api]:
    app = create_app(settings, temporal=env.client, sessions=sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gridplus") as client:
            yield Api(client, settings)
