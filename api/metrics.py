"""Prometheus metrics of the API: requests and latency by route template and status.

A pure ASGI middleware (not ``BaseHTTPMiddleware``, which buffers and breaks streaming).
Labels use the *route template* (``/cases/{case_id}``), never the raw path, so a scan of
random URLs cannot blow up the number of series; anything unrouted is ``unmatched``.
The same middleware puts the case id of ``/…/cases/{id}`` paths into the logging context,
so every log line of that request names the case.

``/metrics`` tells request rates and routes, not data, but still not for everyone: with
``GRIDPLUS_METRICS_TOKEN`` set it answers only ``Authorization: Bearer <that token>``
(Prometheus' ``authorization`` scrape option), and production refuses to start without it
unless ``GRIDPLUS_API_METRICS_ENABLED=false`` removes the route. Open in dev (``make run``).
"""

from __future__ import annotations

import hmac
import re
import time

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.security import bearer_token
from services.platform.observability import CASE_ID
from settings import Settings

REQUESTS = Counter(
    "gridplus_http_requests_total",
    "HTTP requests answered by the API",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "gridplus_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CASE_IN_PATH = re.compile(r"/cases/([A-Za-z0-9_.:-]{1,64})(?:/|$)")


class MetricsMiddleware:
    """Counts and times every HTTP request; sets the logging context's case id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        match = CASE_IN_PATH.search(scope.get("path", ""))
        token = CASE_ID.set(match.group(1) if match else None)
        try:
            await self.app(scope, receive, record_status)
        finally:
            CASE_ID.reset(token)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = (scope.get("method", "GET"), route, str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)


async def metrics_endpoint(_: Request) -> Response:
    """The Prometheus text exposition of this process's registry."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def bearer_matches(request: Request, expected: str) -> bool:
    """``Authorization: Bearer <expected>``, compared in constant time (the header read by
    ``api.security.bearer_token``, the API's one bearer parser)."""
    given = bearer_token(request.headers.get("authorization"))
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def install(app: FastAPI, settings: Settings | None = None) -> None:
    """Add the middleware and ``GET /metrics`` (behind the metrics token, if one is set)."""
    app.add_middleware(MetricsMiddleware)
    if settings is not None and not settings.api_metrics_enabled:
        return
    token = settings.metrics_token if settings is not None else None
    if token is None:
        app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
        return
    expected = token.get_secret_value()

    async def guarded(request: Request) -> Response:
        if not bearer_matches(request, expected):
            return Response(
                "metrics need Authorization: Bearer <GRIDPLUS_METRICS_TOKEN>",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return await metrics_endpoint(request)

    app.add_route("/metrics", guarded, include_in_schema=False)
