"""One cap on every request body, enforced before any route, dependency or token check.

Why one middleware and not a route class per router: a router that forgot its route class
(``/inspections``, ``/campaigns``, ``/rectifications``, ``/enterprises``) let anyone, with
no token at all, make the API read and parse 200 MB bodies. Here every HTTP request passes
through the same gate:

* a declared ``Content-Length`` over the cap is refused with 413 before a byte is read;
* a body without one (chunked) is read chunk by chunk and refused with 413 as soon as it
  passes the cap, without reading the rest;
* the whole body must arrive within ``timeout`` seconds, else 408: a client that sends the
  headers and then stalls (or trickles a byte at a time) cannot hold a worker slot forever.

The body read here (at most the cap) is handed on to the app as it came; later ``receive``
calls (disconnect detection) go to the server. The cap is ``GRIDPLUS_MAX_BODY_BYTES``
(64 KiB: a case report with 20 evidence links is under 10 KiB); the few routes that take
more are in ``PREFIX_CAPS``, the one table of exceptions. The answer is in the format the
app registered for the path (``api.edge``: the problem shape, GeoReport ``errors`` on
``/open311``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.edge import EdgeAnswer
from api.errors import edge_answers
from settings import Settings

_DEFAULTS = Settings.model_fields
MAX_BODY_BYTES: int = _DEFAULTS["max_body_bytes"].default
BODY_TIMEOUT_SECONDS: float = _DEFAULTS["body_timeout_seconds"].default
# Path prefixes allowed a larger body than the default cap: the roster import (CSV of 4,000+
# stewards with phones and skills is about 400 KiB; 5 MiB leaves room for a whole town).
PREFIX_CAPS: Mapping[str, int] = {"/stewards/import": 5 * 1024 * 1024}
# Paths whose route streams the body itself and enforces its own limits while it arrives
# (``POST /attachments``: per file, per kind, per form; ``services.attachments.multipart``):
# buffering 9 photos here would hold ~90 MB per request in memory.
STREAMED_PATHS: frozenset[str] = frozenset({"/attachments", "/bot/attachments"})
# The case page's forms that take photos (``api.web.photos``: the same receiver and limits,
# with the signed-in user), streamed only when posted as multipart.
STREAMED_FORMS = re.compile(r"^/web/cases/[^/]+/result$")


class _Refused(Exception):
    """The body broke a rule; ``status`` and ``message`` are the answer."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def streams_itself(scope: Scope) -> bool:
    """A path whose route streams its own body: ``STREAMED_PATHS``, or a case page's form
    with photos (``STREAMED_FORMS``) when it is posted as ``multipart/form-data``."""
    path: str = scope.get("path", "")
    if path in STREAMED_PATHS:
        return True
    if not STREAMED_FORMS.match(path):
        return False
    content_type: bytes = dict(scope.get("headers") or []).get(b"content-type", b"")
    return content_type.lower().startswith(b"multipart/form-data")


def cap_for(path: str, default: int = MAX_BODY_BYTES, caps: Mapping[str, int] = PREFIX_CAPS) -> int:
    """The body cap of a path: its prefix's entry in ``caps``, else ``default``."""
    for prefix, cap in caps.items():
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return cap
    return default


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = bytes(value).decode("latin-1").strip()
            if not text.isdigit():
                raise _Refused(400, "bad_request", "Content-Length must be a number")
            return int(text)
    return None


class BodyLimitMiddleware:
    """Pure ASGI: reads at most ``cap`` bytes within ``timeout`` seconds, then runs the app."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int = MAX_BODY_BYTES,
        timeout: float = BODY_TIMEOUT_SECONDS,
        caps: Mapping[str, int] = PREFIX_CAPS,
        answer: EdgeAnswer | None = None,
    ) -> None:
        self.app = app
        self.answer = answer or edge_answers()
        self.max_body = max_body
        self.timeout = timeout
        self.caps = caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or streams_itself(scope):
            await self.app(scope, receive, send)
            return
        limit = cap_for(scope.get("path", ""), self.max_body, self.caps)
        try:
            declared = _declared_length(scope)
            if declared is not None and declared > limit:
                raise _Refused(413, "too_large", f"request body over {limit} bytes")
            body, disconnected = await self._read(receive, limit)
        except _Refused as refused:
            answer = self.answer(scope, refused.status, refused.error, refused.message)
            answer.headers["Connection"] = "close"  # the unread rest must not be parsed
            await answer(scope, receive, send)
            return
        if disconnected:
            return  # the client left mid-body: nobody to answer
        await self.app(scope, replay(body, receive), send)

    async def _read(self, receive: Receive, limit: int) -> tuple[bytes, bool]:
        """The whole body (and whether the client left), or ``_Refused`` (413 or 408)."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return b"", True
                    chunk: bytes = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise _Refused(413, "too_large", f"request body over {limit} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks), False
        except TimeoutError as error:
            message_text = f"request body not received within {self.timeout:g} s"
            raise _Refused(408, "timeout", message_text) from error


def replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body read above once, then the server's own messages."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def install(
    app: FastAPI, settings: Settings | None = None, answers: EdgeAnswer | None = None
) -> None:
    """Add the cap and the body timeout (from ``settings``, else the defaults) to ``app``;
    refusals in ``answers``' format (``api.edge``; the problem shape without)."""
    settings = settings or Settings()
    app.add_middleware(
        BodyLimitMiddleware,
        max_body=settings.max_body_bytes,
        timeout=settings.body_timeout_seconds,
        answer=answers,
    )
