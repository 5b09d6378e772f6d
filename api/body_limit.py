"""A route class that refuses request bodies over a size cap with 413, before parsing them.

Doors open to machines and the public (devices, Open311) must not let one client make the
API buffer megabytes: the declared ``Content-Length`` is checked first, and the body is
read in chunks and dropped as soon as it passes the cap (a chunked upload has no length).
The body read here is replayed to FastAPI, which then parses it as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message

# Setting-to-be: GRIDPLUS_MAX_BODY_BYTES.
MAX_BODY_BYTES = 64 * 1024

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "Content-Length must be a number")
        if int(declared) > limit:
            raise HTTPException(413, f"request body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"request body over {limit} bytes")
    return bytes(body)


def replay(request: Request, body: bytes) -> Request:
    """A request whose body is ``body`` (already read), for the normal FastAPI handler."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


class LimitedBodyRoute(APIRoute):
    """An ``APIRoute`` whose handler first enforces ``max_body`` (override in a subclass)."""

    max_body = MAX_BODY_BYTES

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        limit = self.max_body

        async def limited(request: Request) -> Response:
            body = await read_capped(request, limit)
            return await handler(replay(request, body))

        return limited
