"""OIDC sign-in against a real (minimal) provider on loopback: claims become the ``Actor``.

The app runs in-process (ASGI) with the provider's issuer in its settings; the provider is
a real HTTP server the app talks to over loopback (discovery, token, JWKS), and the
"browser" follows the redirects between the two by hand, keeping the app's cookies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import HTTPException
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.web.oidc import principal_from_claims
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from settings import Settings
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider


@dataclass
class Stage:
    provider: Provider
    web: httpx.AsyncClient


@pytest.fixture
async def stage(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[Stage]:
    async with running_provider() as provider:
        configured = settings.model_copy(
            update={
                "public_base_url": "http://gridplus",
                "oidc_issuer": provider.issuer,
                "oidc_client_id": CLIENT_ID,
                "oidc_client_secret": SecretStr(CLIENT_SECRET),
                "oidc_role_claim": "gp_role",
                "oidc_role_map": {"wgzx": "supervisor", "bm": "department"},
                "oidc_department_claim": "dept",
                "oidc_grids_claim": "grids",
            }
        )
        app = create_app(configured, temporal=env.client, sessions=sessions)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gridplus") as web:
                yield Stage(provider, web)


async def sso(
    stage: Stage, claims: dict[str, Any], *, tamper_state: bool = False
) -> httpx.Response:
    """Start at the sign-in page's SSO link and come back with the provider's code."""
    stage.provider.user = claims
    signin = await stage.web.get("/web/signin")
    assert 'href="/web/oidc/start' in signin.text
    start = await stage.web.get("/web/oidc/start", params={"next": "/web/"})
    assert start.status_code == 303
    assert start.headers["location"].startswith(f"{stage.provider.issuer}/authorize?")
    async with httpx.AsyncClient() as outside:
        consent = await outside.get(start.headers["location"])
    assert consent.status_code == 302, consent.text
    back = httpx.URL(consent.headers["location"])
    assert back.path == "/web/oidc/callback"
    params = dict(back.params)
    if tamper_state:
        params["state"] = "forged-state"
    return await stage.web.get("/web/oidc/callback", params=params)


async def test_supervisor_signs_in_through_the_sso(stage: Stage) -> None:
    answer = await sso(
        stage,
        {
            "sub": "u-1",
            "preferred_username": "zhou.li",
            "name": "周力",
            "gp_role": "wgzx",
            "grids": ["G001", "G002"],
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/web/"
    assert stage.provider.token_requests == 1
    home = await stage.web.get("/web/")
    assert home.status_code == 200 and "周力" in home.text and "supervisor" in home.text
    assert "G001, G002" in home.text


async def test_department_clerk_acts_as_the_department(stage: Stage) -> None:
    claims = {"sub": "u-2", "name": "王芳", "gp_role": "bm", "dept": "fire", "grids": "*"}
    answer = await sso(stage, claims)
    assert answer.status_code == 303
    home = await stage.web.get("/web/")
    assert "王芳" in home.text and "department" in home.text
    assert '<p id="grids">负责网格： 全部</p>' in home.text


async def test_a_role_the_mapping_does_not_know_cannot_sign_in(stage: Stage) -> None:
    answer = await sso(stage, {"sub": "u-3", "gp_role": "citizen"})
    assert answer.status_code == 403
    assert "gridplus_web" not in stage.web.cookies


async def test_forged_token_wrong_nonce_and_wrong_state_are_refused(stage: Stage) -> None:
    claims = {"sub": "u-4", "gp_role": "wgzx"}
    stage.provider.forge = True
    forged = await sso(stage, claims)  # signed by a key the provider does not publish
    assert forged.status_code == 401 and "id_token is not valid" in forged.text
    stage.provider.forge, stage.provider.bad_nonce = False, True
    replayed = await sso(stage, claims)
    assert replayed.status_code == 401 and "nonce mismatch" in replayed.text
    stage.provider.bad_nonce = False
    crossed = await sso(stage, claims, tamper_state=True)
    assert crossed.status_code == 400 and "state mismatch" in crossed.text
    assert "gridplus_web" not in stage.web.cookies
    assert (await sso(stage, claims)).status_code == 303  # and the honest path still works


def test_claims_map_to_the_actor_the_api_knows(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"oidc_role_claim": "r", "oidc_role_map": {"wgzx": "supervisor", "bm": "department"}}
    )
    actor, username, grids, all_grids = principal_from_claims(
        configured,
        {"sub": "u-77", "preferred_username": "zhou.li", "r": "wgzx", "grids": "G001,G002"},
    )
    assert actor == Actor(role="supervisor", id="zhou.li") and grids == ("G001", "G002")
    assert not all_grids and username == "zhou.li"
    email, *_ = principal_from_claims(
        configured, {"sub": "u-78", "preferred_username": "wang@gov.cn", "r": "wgzx"}
    )
    assert email == Actor(role="supervisor", id="u-78")  # not an id: the stable sub instead
    clerk, *_ = principal_from_claims(configured, {"sub": "u-79", "r": "bm", "department": "fire"})
    assert clerk == Actor(role="department", id="fire")
    with pytest.raises(HTTPException) as no_department:
        principal_from_claims(configured, {"sub": "u-80", "r": "bm"})
    assert no_department.value.status_code == 403
