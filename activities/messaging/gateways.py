"""The outside world: the chat-bot gateway and the departments' own systems.

Activities talk to these through small protocols, so a town can plug in DingTalk, WeCom or
a department's case system without touching a workflow. The HTTP implementation signs every
request the way we expect callbacks to be signed (``services.platform.tokens.sign_body``).
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import httpx

from services.platform.tokens import sign_body


class DeliveryRejected(Exception):
    """The other side answered 4xx: retrying the same request will not help."""


class Gateway(Protocol):
    """Delivers one JSON message to a URL; raises on failure so Temporal retries it."""

    async def deliver(self, url: str, payload: dict[str, Any]) -> None: ...


class HttpGateway:
    """POSTs signed JSON with httpx; 5xx and network errors raise (retry), 4xx is final."""

    def __init__(self, http: httpx.AsyncClient, secret: str) -> None:
        self._http = http
        self._secret = secret

    async def deliver(self, url: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "x-gridplus-timestamp": timestamp,
            "x-gridplus-signature": sign_body(self._secret, timestamp, body),
            "idempotency-key": str(payload.get("message_id", "")),
        }
        response = await self._http.post(url, content=body, headers=headers)
        if 400 <= response.status_code < 500:
            raise DeliveryRejected(f"{url} answered {response.status_code}: {response.text[:200]}")
        response.raise_for_status()
