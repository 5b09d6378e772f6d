"""The service's doors as the walker uses them: bearer tokens, signed bot callbacks, devices,
Open311. Everything goes through the real in-process API; nothing here decides anything.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from api.security import issue_token
from schemas.platform.common import Actor
from services.intake.open311 import JURISDICTION_ID
from services.platform.tokens import action_token
from settings import Settings
from tests.security_support import gateway_headers


@dataclass(frozen=True)
class Answer:
    """An HTTP answer reduced to what the model predicts: ok, or status with reason code."""

    status: int
    ok: bool
    code: str | None
    body: Any

    def __str__(self) -> str:
        return f"{self.status} {'ok' if self.ok else self.code}"


class Doors:
    """Request helpers bound to one API client and the service's secrets."""

    @classmethod
    def of(cls, api: httpx.AsyncClient, settings: Settings) -> Doors:
        """Bound to the secrets the app under test was built with."""
        return cls(
            api,
            settings.api_token_secret.get_secret_value(),
            settings.bot_secret.get_secret_value(),
        )

    def __init__(self, api: httpx.AsyncClient, token_secret: str, bot_secret: str) -> None:
        self.api = api
        self.token_secret = token_secret
        self.bot_secret = bot_secret
        self._tokens: dict[Actor, str] = {}

    def token(self, actor: Actor) -> str:
        if actor not in self._tokens:
            self._tokens[actor] = issue_token(self.token_secret, actor, ttl_seconds=7 * 24 * 3600)
        return self._tokens[actor]

    def headers(self, actor: Actor, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token(actor)}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    async def post(
        self, path: str, actor: Actor, body: dict[str, Any], key: str | None = None
    ) -> Answer:
        response = await self.api.post(path, json=body, headers=self.headers(actor, key))
        return self.answer(response)

    @staticmethod
    def answer(response: httpx.Response) -> Answer:
        body = response.json() if response.content else None
        if response.is_success:
            return Answer(response.status_code, True, None, body)
        code = body.get("error") if isinstance(body, dict) else None
        return Answer(response.status_code, False, code, body)

    async def get_case(self, actor: Actor, case_id: str) -> httpx.Response:
        return await self.api.get(f"/cases/{case_id}", headers=self.headers(actor))

    # ---- the chat-bot gateway ------------------------------------------------------
    def callback(
        self, steward: str, case_id: str, attempt: int, action: str, request_id: str | None = None
    ) -> dict[str, Any]:
        """The body a gateway posts when ``steward`` presses ``action`` (a valid token)."""
        body: dict[str, Any] = {
            "request_id": request_id or f"mdl-{uuid.uuid4().hex}",
            "steward_id": steward,
            "case_id": case_id,
            "attempt": attempt,
            "action": action,
            "token": action_token(self.bot_secret, case_id, steward, attempt, action),
        }
        if action in ("resolved", "escalate", "decline", "verify_pass", "verify_fail"):
            body["note"] = f"model walker: {action}"
        return body

    async def press(self, body: dict[str, Any], secret: str | None = None) -> tuple[Answer, bool]:
        """Sign and post a callback: the answer (ok = the action was taken) and replayed.

        ``secret``: sign with another secret (a forged callback), not the gateway's."""
        raw = json.dumps(body).encode()
        headers = gateway_headers(secret or self.bot_secret, raw)
        response = await self.api.post("/bot/callback", content=raw, headers=headers)
        replayed = response.headers.get("X-Gridplus-Replayed") == "true"
        if response.status_code != 200:
            return self.answer(response), replayed
        answer = response.json()
        ok = answer["result"] == "accepted"
        return Answer(200, ok, None if ok else answer.get("code"), answer), replayed

    # ---- devices and Open311 --------------------------------------------------------
    async def device_post(
        self, device_id: str, key: str, what: str, body: dict[str, Any]
    ) -> Answer:
        response = await self.api.post(
            f"/devices/{device_id}/{what}", json=body, headers={"X-Device-Key": key}
        )
        return self.answer(response)

    async def open311(self, system: Actor, service_code: str, lat: float, lon: float) -> Answer:
        form = {
            "api_key": self.token(system),
            "jurisdiction_id": JURISDICTION_ID,
            "service_code": service_code,
            "lat": str(lat),
            "long": str(lon),
            "description": "model walker",
        }
        response = await self.api.post("/open311/v2/requests.json", data=form)
        return self.answer(response)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
