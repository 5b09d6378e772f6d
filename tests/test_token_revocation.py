"""API tokens: a capped lifetime, an id, and revocation.

The app is the real one (``create_app`` on the test server and database); revocations go
through the supervisor route, the CLI as a separate process, or the service, and are
checked at every door that takes a token: the bearer header, Open311's ``api_key`` and the
supervisor board's ``?token=``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from api import security
from api.security import _b64, _sign, issue_token, read_claims
from schemas.platform.common import Actor, Role
from services.platform import revocation
from services.platform.db import SessionFactory
from settings import Settings
from tests.security_support import Api, running_app

ROOT = Path(__file__).resolve().parent.parent
HUNDRED_YEARS = 100 * 365 * 24 * 3600
A_CASE = "/cases/GP-0000000000000000"  # a steward may ask; made up, so 404 when let in


def mint(settings: Settings, role: Role, subject: str, **options: Any) -> str:
    return issue_token(
        settings.api_token_secret.get_secret_value(), Actor(role=role, id=subject), **options
    )


def crafted(settings: Settings, body: dict[str, Any]) -> str:
    """A correctly signed token with any payload, as someone holding the secret could mint."""
    payload = _b64(json.dumps(body).encode())
    return f"gp1.{payload}.{_sign(settings.api_token_secret.get_secret_value(), payload)}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[Api]:
    async with running_app(env, sessions, settings) as running:
        yield running


def test_tokens_carry_an_id_and_their_issue_time(settings: Settings) -> None:
    before = int(time.time())
    first, second = (mint(settings, "steward", "S0001") for _ in range(2))
    secret = settings.api_token_secret.get_secret_value()
    one, two = read_claims(secret, first), read_claims(secret, second)
    assert one.jti != two.jti and len(one.jti) >= 16
    assert before <= one.iat <= int(time.time())
    assert one.exp - one.iat == security.DEFAULT_TTL


async def test_a_hundred_year_token_is_refused(api: Api, settings: Settings) -> None:
    now = int(time.time())
    long_lived = crafted(
        settings,
        {"role": "supervisor", "sub": "center", "iat": now, "exp": now + HUNDRED_YEARS,
         "jti": uuid.uuid4().hex},
    )  # fmt: skip
    answer = await api.client.get("/stewards", headers=auth(long_lived))
    assert answer.status_code == 401
    assert "exceeds the maximum" in answer.json()["message"]
    # and one without iat/jti (the old format) is refused with its reason
    old_format = crafted(settings, {"role": "supervisor", "sub": "center", "exp": now + 3600})
    answer = await api.client.get("/stewards", headers=auth(old_format))
    assert answer.status_code == 401
    assert "no iat or jti" in answer.json()["message"]
    within = mint(settings, "supervisor", "center", ttl_seconds=89 * 24 * 3600)
    assert (await api.client.get("/stewards", headers=auth(within))).status_code == 200


def test_minting_past_the_max_ttl_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="at most"):
        issue_token("k" * 40, Actor(role="steward", id="S1"), HUNDRED_YEARS)
    assert security.main(["supervisor", "center", "--days", "36500"]) == 2
    assert "GRIDPLUS_TOKEN_MAX_TTL" in capsys.readouterr().err
    assert security.main(["supervisor", "center", "--days", "7"]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("gp1.") and "jti=" in printed.err


async def test_a_supervisor_revokes_one_token_and_the_others_still_work(
    api: Api, settings: Settings
) -> None:
    steward = f"S-rv-{uuid.uuid4().hex[:6]}"
    stolen, kept = mint(settings, "steward", steward), mint(settings, "steward", steward)
    assert (await api.client.get(A_CASE, headers=auth(stolen))).status_code == 404
    jti = read_claims(settings.api_token_secret.get_secret_value(), stolen).jti
    center = auth(mint(settings, "supervisor", "center"))
    revoked = await api.client.post(
        "/supervisors/tokens/revoke", json={"jti": jti, "reason": "phone lost"}, headers=center
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["kind"] == "jti" and revoked.json()["revoked_by"] == "supervisor:center"
    refused = await api.client.get(A_CASE, headers=auth(stolen))
    assert refused.status_code == 401 and refused.json()["message"] == "token revoked"
    assert (await api.client.get(A_CASE, headers=auth(kept))).status_code == 404


async def test_revoking_a_subject_refuses_its_tokens_at_every_door(
    api: Api, settings: Settings
) -> None:
    center = auth(mint(settings, "supervisor", "center"))
    earlier = time.time() - 5
    app_key = mint(settings, "system", "rv-app", now=earlier)
    board = mint(settings, "supervisor", "rv-board", now=earlier)
    steward = mint(settings, "steward", "S-rv-all", now=earlier)
    for subject in ("system:rv-app", "supervisor:rv-board", "steward:S-rv-all"):
        answer = await api.client.post(
            "/supervisors/tokens/revoke", json={"subject": subject}, headers=center
        )
        assert answer.status_code == 200, answer.text
    assert (await api.client.get(A_CASE, headers=auth(steward))).status_code == 401
    page = await api.client.get("/supervisor", params={"token": board})
    assert page.status_code == 401 and "revoked" in page.text
    filed = await api.client.post("/open311/v2/requests.json", data={"api_key": app_key})
    assert filed.status_code == 403 and "Invalid api_key" in filed.text
    # a token issued after the revocation works again
    fresh = mint(settings, "steward", "S-rv-all", now=time.time() + 2)
    assert (await api.client.get(A_CASE, headers=auth(fresh))).status_code == 404


async def test_a_revocation_names_exactly_one_target(api: Api, settings: Settings) -> None:
    center = auth(mint(settings, "supervisor", "center"))
    url = "/supervisors/tokens/revoke"
    both = await api.client.post(url, json={"jti": "a" * 16, "subject": "steward:S1"},
                                 headers=center)  # fmt: skip
    assert both.status_code == 422
    neither = await api.client.post(url, json={}, headers=center)
    assert neither.status_code == 422
    bad_role = await api.client.post(url, json={"subject": "wizard:S1"}, headers=center)
    assert bad_role.status_code == 422 and bad_role.json()["fields"] == ["body.subject"]
    steward = auth(mint(settings, "steward", "S0001"))
    assert (await api.client.post(url, json={"subject": "steward:S1"}, headers=steward)
            ).status_code == 403  # fmt: skip


async def test_the_cli_revokes_and_the_api_follows(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, database_url: str
) -> None:
    uncached = Settings.model_validate(
        {**settings.model_dump(), "token_revocation_cache_seconds": 0}
    )
    subject = f"S-cli-{uuid.uuid4().hex[:6]}"
    token = mint(settings, "steward", subject, now=time.time() - 5)
    async with running_app(env, sessions, uncached) as running:
        assert (await running.client.get(A_CASE, headers=auth(token))).status_code == 404
        cli = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "api.security", "revoke", "--subject", f"steward:{subject}"),
            cwd=ROOT,
            env={**os.environ, "GRIDPLUS_DATABASE_URL": database_url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), timeout=60)
        assert cli.returncode == 0, err.decode()
        assert f"revoked subject steward:{subject}" in out.decode()
        assert (await running.client.get(A_CASE, headers=auth(token))).status_code == 401


async def test_the_cache_reloads_only_when_stale(sessions: SessionFactory) -> None:
    """Between reloads a process answers from memory; after ``ttl`` it sees new rows."""
    now = [1000.0]
    cache = revocation.RevocationCache(ttl_seconds=5, clock=lambda: now[0])
    jti = uuid.uuid4().hex
    assert jti not in (await cache.current(sessions)).jtis
    request = revocation.RevokeRequest(jti=jti)
    await revocation.revoke(sessions, request, "test", timedelta(days=90))
    now[0] += 4
    assert jti not in (await cache.current(sessions)).jtis  # still the cached copy
    now[0] += 2
    assert jti in (await cache.current(sessions)).jtis
