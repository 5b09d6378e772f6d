"""Token-bucket rate limits on the doors open to machines and the public.

Why: a camera stuck in a loop, a leaked Open311 key or a script posting ``/cases`` must not
be able to fill Temporal with workflows or the database with rows. Each client key gets a
bucket of ``burst`` tokens refilled at ``rate`` per second; a request takes one token, and
with none left the answer is 429 with ``Retry-After`` (whole seconds until the next token)
in the usual error shape (the problem shape; the GeoReport ``errors`` document on
``/open311``, whose clients parse nothing else).

Who is a "client":

* ``/devices/{device_id}/*``: the device, i.e. the path's id together with a fingerprint of
  the ``X-Device-Key`` it sends. Keying on the id alone would let anyone who knows a camera's
  id (it is printed on the pole) exhaust that camera's budget with keyless requests.
* ``/open311/*``: the ``api_key`` of the query string when it is a valid token (the client
  application), else the client IP. An ``api_key`` sent in the body is not read here: the
  body is not touched before the route's size cap, so such clients count by IP.
* ``POST /cases``: the bearer token's subject (role and id) when the token is valid, else the
  client IP. Behind a proxy, run uvicorn with ``--proxy-headers --forwarded-allow-ips`` so the
  IP is the caller's, not the proxy's.

The buckets live in this process: N API replicas each enforce their own budget, so a client
spread over all of them gets up to N times the budget. That is fine for flood protection; an
exact town-wide budget would need a shared store (Redis), which this service does not run.

Settings (``settings.py``, validated at start-up: rates > 0, bursts >= 1):
``GRIDPLUS_RATE_LIMIT_ENABLED``, ``GRIDPLUS_DEVICE_RATE_PER_SECOND``/``_BURST``,
``GRIDPLUS_OPEN311_RATE_PER_SECOND``/``_BURST``, ``GRIDPLUS_CASE_REPORT_RATE_PER_SECOND``/
``_BURST``, ``GRIDPLUS_RATE_LIMIT_MAX_KEYS``; ``install`` builds the limiter from them. Their
defaults, and why each is what it is, are in ``settings.py``; the constants below mirror them.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import problem
from api.open311_format import render_errors
from api.security import InvalidToken, read_token
from settings import Settings

_DEFAULTS = Settings.model_fields
DEVICE_RATE_PER_SECOND: float = _DEFAULTS["device_rate_per_second"].default
DEVICE_BURST: int = _DEFAULTS["device_burst"].default
OPEN311_RATE_PER_SECOND: float = _DEFAULTS["open311_rate_per_second"].default
OPEN311_BURST: int = _DEFAULTS["open311_burst"].default
CASE_REPORT_RATE_PER_SECOND: float = _DEFAULTS["case_report_rate_per_second"].default
CASE_REPORT_BURST: int = _DEFAULTS["case_report_burst"].default
# Buckets remembered at most; the least recently used go first (a forgotten bucket is full).
MAX_TRACKED_KEYS: int = _DEFAULTS["rate_limit_max_keys"].default


@dataclass(frozen=True)
class Limit:
    """A budget: ``burst`` requests at once, refilled at ``rate`` per second."""

    rate: float
    burst: int


@dataclass(frozen=True)
class Limits:
    """The budget of each limited door."""

    device: Limit
    open311: Limit
    case_report: Limit

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            device=Limit(settings.device_rate_per_second, settings.device_burst),
            open311=Limit(settings.open311_rate_per_second, settings.open311_burst),
            case_report=Limit(settings.case_report_rate_per_second, settings.case_report_burst),
        )


DEVICE_LIMIT = Limit(DEVICE_RATE_PER_SECOND, DEVICE_BURST)
OPEN311_LIMIT = Limit(OPEN311_RATE_PER_SECOND, OPEN311_BURST)
CASE_REPORT_LIMIT = Limit(CASE_REPORT_RATE_PER_SECOND, CASE_REPORT_BURST)
DEFAULT_LIMITS = Limits(DEVICE_LIMIT, OPEN311_LIMIT, CASE_REPORT_LIMIT)


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


def limit_for(method: str, path: str, limits: Limits = DEFAULT_LIMITS) -> Limit | None:
    """The budget of a request (or a path template), None where no limit applies."""
    if path.startswith("/devices/"):
        return limits.device
    if path.startswith("/open311/"):
        return limits.open311
    if method == "POST" and path.rstrip("/") == "/cases":
        return limits.case_report
    return None


def client_key(scope: Scope) -> str:
    """Who is asking, for a request that ``limit_for`` limits (see the module docstring)."""
    path = _path(scope)
    if path.startswith("/devices/"):
        device_id = path.split("/")[2]
        key = _header(scope, b"x-device-key").encode()
        return f"device:{device_id}:{hashlib.sha256(key).hexdigest()[:16]}"
    if path.startswith("/open311/"):
        query = parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"))
        api_key = next((value for name, value in query if name == "api_key"), "")
        subject = _subject(scope, api_key)
        return f"open311:{subject}" if subject else f"ip:{_client_ip(scope)}"
    authorization = _header(scope, b"authorization")
    token = authorization[7:] if authorization.lower().startswith("bearer ") else ""
    subject = _subject(scope, token)
    return f"bearer:{subject}" if subject else f"ip:{_client_ip(scope)}"


def too_many(scope: Scope, wait: float) -> Response:
    """The 429, with ``Retry-After`` in whole seconds (at least one)."""
    retry_after = max(1, math.ceil(wait))
    message = f"too many requests from this client; retry in {retry_after} s"
    path = _path(scope)
    if path.startswith("/open311/"):
        fmt = "json" if path.endswith(".json") else "xml"
        response = render_errors(fmt, 429, [(429, message)])
    else:
        response = problem(429, "too_many_requests", message)
    response.headers["Retry-After"] = str(retry_after)
    return response


class RateLimitMiddleware:
    """Pure ASGI (no body buffering): decides from the method, path, headers and client."""

    def __init__(self, app: ASGIApp, limiter: TokenBucketLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.limiter.enabled:
            limit = limit_for(scope.get("method", "GET"), _path(scope), self.limiter.limits)
            if limit is not None:
                wait = self.limiter.take(client_key(scope), limit)
                if wait > 0:
                    await too_many(scope, wait)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


TOO_MANY: dict[str, Any] = {
    "description": "rate limit reached for this client; retry after `Retry-After` seconds",
    "headers": {
        "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
    },
}


def _document(app: FastAPI) -> None:
    """Add the 429 to the OpenAPI answer list of every limited operation."""
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
                if not path.startswith("/open311/"):
                    ref = {"$ref": "#/components/schemas/Problem"}
                    answer["content"] = {"application/json": {"schema": ref}}
                operation.setdefault("responses", {}).setdefault("429", answer)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI, settings: Settings | None = None) -> TokenBucketLimiter:
    """Add the limiter (``app.state.rate_limiter``, for tests and operators) and its docs.

    Budgets, key cap and on/off come from ``settings`` (the defaults without).
    """
    settings = settings or Settings()
    limiter = TokenBucketLimiter(
        max_keys=settings.rate_limit_max_keys,
        limits=Limits.from_settings(settings),
        enabled=settings.rate_limit_enabled,
    )
    app.add_middleware(RateLimitMiddleware, limiter=limiter)
    app.state.rate_limiter = limiter
    _document(app)
    return limiter
