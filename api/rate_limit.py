"""Token-bucket rate limits, one budget per *door* and per client at that door.

Why: a camera stuck in a loop, a leaked Open311 key or a script posting ``/cases`` must not
be able to fill Temporal with workflows or the database with rows, nor a script polling
``GET /cases/{id}`` keep Temporal busy answering queries. Each client gets a bucket of
``burst`` tokens per door, refilled at ``rate`` per second; a request takes one token, and
with none left the answer is 429 with ``Retry-After`` (whole seconds until the next token)
in the format the app registered for the path (``api.edge``: the problem shape, the
GeoReport ``errors`` document on ``/open311``, whose clients parse nothing else).

The doors (``DOORS``, first match wins) and who is a "client" at each:

* ``device``: ``/devices/{device_id}/*``, keyed on the path's id with a fingerprint of the
  ``X-Device-Key`` it sends. Keying on the id alone would let anyone who knows a camera's id
  (it is printed on the pole) exhaust that camera's budget with keyless requests.
* ``open311``: ``/open311/*``, keyed on the ``api_key`` of the query string when it is a
  valid token (the client application), else the client IP. A body's ``api_key`` is not read
  here (the limiter never touches bodies), so such clients count by IP.
* ``case_report``: ``POST /cases``; ``case_read``: ``GET /cases/{id}`` and its timeline
  (each a Temporal query or a database read); ``enterprise_record``: ``POST
  /enterprises/{id}/records`` and ``/observations``; ``bot``: the chat-bot gateway's
  callbacks (one gateway speaks for every steward, hence its larger budget); ``write``:
  every other ``POST``/``PUT``/``PATCH``/``DELETE`` (supervisor and department actions,
  inspections, rounds, rectifications, proof, the roster import).
* everywhere but devices and Open311: the bearer token's subject (role and id) when the
  token is valid, else the client IP. Behind a proxy, run uvicorn with ``--proxy-headers
  --forwarded-allow-ips`` so the IP is the caller's, not the proxy's.

Every key starts with its door's name, so spending one door's budget never spends another's:
forty anonymous Open311 reads leave an anonymous ``POST /cases`` its own budget (and its 401).

The buckets live in this process: N API replicas each enforce their own budget, so a client
spread over all of them gets up to N times the budget. That is fine for flood protection; an
exact town-wide budget would need a shared store (Redis), which this service does not run.

Settings (``settings.py``, validated at start-up: rates > 0, bursts >= 1):
``GRIDPLUS_RATE_LIMIT_ENABLED``, ``GRIDPLUS_<DOOR>_RATE_PER_SECOND``/``_BURST`` for each
door above, ``GRIDPLUS_RATE_LIMIT_MAX_KEYS``; ``install`` builds the limiter from them. Their
defaults, and why each is what it is, are in ``settings.py``; the constants below mirror them.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.edge import EdgeAnswer, EdgeAnswers
from api.errors import edge_answers
from api.security import InvalidToken, bearer_token, read_token
from settings import Settings

_DEFAULTS = Settings.model_fields
DEVICE_RATE_PER_SECOND: float = _DEFAULTS["device_rate_per_second"].default
DEVICE_BURST: int = _DEFAULTS["device_burst"].default
OPEN311_RATE_PER_SECOND: float = _DEFAULTS["open311_rate_per_second"].default
OPEN311_BURST: int = _DEFAULTS["open311_burst"].default
CASE_REPORT_RATE_PER_SECOND: float = _DEFAULTS["case_report_rate_per_second"].default
CASE_REPORT_BURST: int = _DEFAULTS["case_report_burst"].default
CASE_READ_BURST: int = _DEFAULTS["case_read_burst"].default
ENTERPRISE_RECORD_BURST: int = _DEFAULTS["enterprise_record_burst"].default
WRITE_BURST: int = _DEFAULTS["write_burst"].default
BOT_BURST: int = _DEFAULTS["bot_burst"].default
# Buckets remembered at most; the least recently used go first (a forgotten bucket is full).
MAX_TRACKED_KEYS: int = _DEFAULTS["rate_limit_max_keys"].default


@dataclass(frozen=True)
class Limit:
    """A budget: ``burst`` requests at once, refilled at ``rate`` per second."""

    rate: float
    burst: int


@dataclass(frozen=True)
class Limits:
    """The budget of each door (field names are the door names)."""

    device: Limit
    open311: Limit
    case_report: Limit
    case_read: Limit
    enterprise_record: Limit
    bot: Limit
    write: Limit

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        def limit(door: str) -> Limit:
            return Limit(
                getattr(settings, f"{door}_rate_per_second"), getattr(settings, f"{door}_burst")
            )

        return cls(**{field.name: limit(field.name) for field in fields(cls)})

    def of(self, door: str) -> Limit:
        limit: Limit = getattr(self, door)
        return limit


DEFAULT_LIMITS = Limits.from_settings(Settings.model_construct())
DEVICE_LIMIT = DEFAULT_LIMITS.device
OPEN311_LIMIT = DEFAULT_LIMITS.open311
CASE_REPORT_LIMIT = DEFAULT_LIMITS.case_report

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ENTERPRISE_RECORD = re.compile(r"^/enterprises/[^/]+/(records|observations)/?$")


@dataclass(frozen=True)
class Door:
    """A door: its name (a ``Limits`` field) and which requests come through it."""

    name: str
    matches: Callable[[str, str], bool]


DOORS: tuple[Door, ...] = (
    Door("device", lambda _, path: path.startswith("/devices/")),
    Door("open311", lambda _, path: path.startswith("/open311/")),
    Door("case_report", lambda method, path: method == "POST" and path.rstrip("/") == "/cases"),
    Door("case_read", lambda method, path: method == "GET" and path.startswith("/cases/")),
    Door("enterprise_record",
         lambda method, path: method == "POST" and bool(_ENTERPRISE_RECORD.match(path))),
    Door("bot", lambda method, path: method == "POST" and path.startswith("/bot/")),
    Door("write", lambda method, _: method in WRITES),
)  # fmt: skip


class TokenBucketLimiter:
    """Buckets per client key, in memory, and the budgets they are held to.

    ``clock`` is swappable so tests can move time; ``enabled = False`` lets everything through
    (benchmarks and tests that are about something else; ``GRIDPLUS_RATE_LIMIT_ENABLED``).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_KEYS,
        limits: Limits = DEFAULT_LIMITS,
        enabled: bool = True,
    ) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self.limits = limits
        self.enabled = enabled
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, limit: Limit) -> float:
        """Take a token: 0.0 if granted, else the seconds until one will be there."""
        now = self.clock()
        tokens, stamp = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + max(0.0, now - stamp) * limit.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / limit.rate
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    def reset(self) -> None:
        """Forget every bucket (all clients start full again)."""
        self._buckets.clear()


def _token_secret(scope: Scope) -> str | None:
    """The API token secret, once the app's lifespan has built its state."""
    state = getattr(getattr(scope.get("app"), "state", None), "gridplus", None)
    if state is None:
        return None
    secret: str = state.settings.api_token_secret.get_secret_value()
    return secret


def _subject(scope: Scope, token: str) -> str | None:
    """``role:id`` of a valid token; None for a forged, expired or unreadable one."""
    secret = _token_secret(scope)
    if secret is None or not token:
        return None
    try:
        actor = read_token(secret, token)
    except InvalidToken:
        return None
    return f"{actor.role}:{actor.id}"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def door_for(method: str, path: str) -> str | None:
    """The door a request (or a path template) comes through, None where no limit applies."""
    method = method.upper()
    return next((door.name for door in DOORS if door.matches(method, path)), None)


def limit_for(method: str, path: str, limits: Limits = DEFAULT_LIMITS) -> Limit | None:
    """The budget of a request (or a path template), None where no limit applies."""
    door = door_for(method, path)
    return None if door is None else limits.of(door)


def client_key(scope: Scope) -> str:
    """``<door>:<who>`` for a limited request (see the module docstring)."""
    path = _path(scope)
    door = door_for(scope.get("method", "GET"), path) or "none"
    if door == "device":
        device_id = path.split("/")[2]
        key = _header(scope, b"x-device-key").encode()
        return f"device:{device_id}:{hashlib.sha256(key).hexdigest()[:16]}"
    if door == "open311":
        query = parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"))
        api_key = next((value for name, value in query if name == "api_key"), "")
        subject = _subject(scope, api_key)
        return f"open311:{subject}" if subject else f"open311:ip:{_client_ip(scope)}"
    if door == "bot":
        return f"bot:ip:{_client_ip(scope)}"
    authorization = _header(scope, b"authorization")
    subject = _subject(scope, bearer_token(authorization) or "")
    return f"{door}:bearer:{subject}" if subject else f"{door}:ip:{_client_ip(scope)}"


def too_many(scope: Scope, wait: float, answer: EdgeAnswer) -> Response:
    """The 429 in ``answer``'s format, with ``Retry-After`` in whole seconds (at least one)."""
    retry_after = max(1, math.ceil(wait))
    message = f"too many requests from this client; retry in {retry_after} s"
    response = answer(scope, 429, "too_many_requests", message)
    response.headers["Retry-After"] = str(retry_after)
    return response


class RateLimitMiddleware:
    """Pure ASGI (no body buffering): decides from the method, path, headers and client."""

    def __init__(self, app: ASGIApp, limiter: TokenBucketLimiter, answer: EdgeAnswer) -> None:
        self.app = app
        self.limiter = limiter
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.limiter.enabled:
            limit = limit_for(scope.get("method", "GET"), _path(scope), self.limiter.limits)
            if limit is not None:  # every door but unlimited reads
                wait = self.limiter.take(client_key(scope), limit)
                if wait > 0:
                    await too_many(scope, wait, self.answer)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


TOO_MANY: dict[str, Any] = {
    "description": "rate limit reached for this client; retry after `Retry-After` seconds",
    "headers": {
        "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
    },
}


def _document(app: FastAPI, answers: EdgeAnswers) -> None:
    """Add the 429 to the OpenAPI answer list of every limited operation (the problem shape
    where no channel format of ``answers`` applies)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if limit_for(method.upper(), path) is None:
                    continue
                answer = dict(TOO_MANY)
                if not answers.own_format(path):
                    ref = {"$ref": "#/components/schemas/Problem"}
                    answer["content"] = {"application/json": {"schema": ref}}
                operation.setdefault("responses", {}).setdefault("429", answer)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(
    app: FastAPI, settings: Settings | None = None, answers: EdgeAnswers | None = None
) -> TokenBucketLimiter:
    """Add the limiter (``app.state.rate_limiter``, for tests and operators) and its docs.

    Budgets, key cap and on/off come from ``settings`` (the defaults without); the 429's
    format from ``answers`` (``api.edge``; the problem shape without).
    """
    answers = answers or edge_answers()
    settings = settings or Settings()
    limiter = TokenBucketLimiter(
        max_keys=settings.rate_limit_max_keys,
        limits=Limits.from_settings(settings),
        enabled=settings.rate_limit_enabled,
    )
    app.add_middleware(RateLimitMiddleware, limiter=limiter, answer=answers)
    app.state.rate_limiter = limiter
    _document(app, answers)
    return limiter
