"""``/metrics`` behind a token, or off, on the real app.

Production refuses to start with an open ``/metrics`` (``tests/test_production_settings``);
here the app built from such settings answers a scrape only with the token.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from services.platform.db import SessionFactory
from settings import Settings
from tests.security_support import running_app

TOKEN = "hV4rN8yC2mX6qB0zK5wJ9pF3gL7dS1aU4eR8tY2nM6c"


def tuned(settings: Settings, **changes: object) -> Settings:
    return Settings.model_validate({**settings.model_dump(), **changes})


async def test_metrics_answer_only_with_the_metrics_token(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> None:
    async with running_app(env, sessions, tuned(settings, metrics_token=TOKEN)) as api:
        anonymous = await api.client.get("/metrics")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert "gridplus_http_requests_total" not in anonymous.text
        wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        scrape = await api.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scrape.status_code == 200
        assert "gridplus_http_requests_total" in scrape.text


async def test_metrics_can_be_switched_off_on_the_api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> None:
    async with running_app(env, sessions, tuned(settings, api_metrics_enabled=False)) as api:
        assert (await api.client.get("/metrics")).status_code == 404
        assert (await api.client.get("/healthz")).status_code == 200
