"""Back-pressure at the door of ``/devices/``: past capacity, 503 + ``Retry-After`` at once.

A pure ASGI middleware, before the body is read or a dependency solved: when an API process
is past its capacity (``DeviceRuntime.admit``: posts in progress, rows waiting for the
writer), a refusal must cost next to nothing, or the refusals themselves become the load.
The device sends the same post again later (same ``event_id``): nothing refused was
recorded, and everything answered 202 was.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from api.edge import EdgeAnswer
from api.errors import edge_answers
from services.intake.runtime import RETRY_AFTER_BUSY, Busy


class DeviceGateMiddleware:
    def __init__(self, app: ASGIApp, answer: EdgeAnswer | None = None) -> None:
        self.app = app
        self.answer = answer or edge_answers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/devices/"):
            await self.app(scope, receive, send)
            return
        state = getattr(scope["app"].state, "gridplus", None)
        runtime = state.devices if state is not None else None
        if runtime is None:
            await self.app(scope, receive, send)
            return
        try:
            with runtime.admit():
                await self.app(scope, receive, send)
        except Busy:
            message = "too many device reports right now; retry with the same event_id"
            response = self.answer(scope, 503, "unavailable", message)
            response.headers["Retry-After"] = str(RETRY_AFTER_BUSY)
            await response(scope, receive, send)


def install(app: FastAPI, answers: EdgeAnswer | None = None) -> None:
    """Refusals in ``answers``' format (``api.edge``; the problem shape without)."""
    app.add_middleware(DeviceGateMiddleware, answer=answers)
