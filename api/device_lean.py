"""The lean door of ``POST /devices/{device_id}/detections``: the hot path without FastAPI.

Why: at camera scale the API's CPU per detection was mostly FastAPI's request machinery
(routing through every route's regex, dependency solving, the body parsed to a dict and then
validated, the answer encoded twice), 3-4.5 ms of a post whose own work (a cached key check,
one validation, a row handed to the group-commit writer) is a fraction of that. This pure
ASGI middleware, innermost of the app's middleware (so the body cap, the device gate, the
rate limiter and the metrics wrap it as they wrap every route), serves the *good* post
itself: the same services, in the same order, with the same answer.

What it does, and nothing more: the body as the body cap let it through; one
``CameraDetection.model_validate_json``; the device key through the same ``KeyCache`` (401
as the route answers it); ``services.intake.device_reports.receive_detection`` with the
route's own ``Intake``; the route's error mapping (403, 422 naming the field, 503 with
``Retry-After``). Anything else (a path id or key header the route would refuse as 422, no
JSON content type, an empty or invalid body) is handed, body included, to the FastAPI route
``api.routers.devices.post_detection``, which stays declared (the OpenAPI document is its)
and answers exactly as before: an unusual post costs what it always did, a good one less.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.body_limit import replay
from api.errors import CODES, problem
from api.routers import devices as door
from schemas.intake.devices import CameraDetection
from services.cases.filing import IntakeError
from services.intake import device_reports, devices
from services.intake.devices import DeviceAuthError

PATH = "/devices/{device_id}/detections"
# The route's own checks of the path id and the key header (``door.current_device``):
# a post failing them is the route's to refuse (422 naming the parameter).
_PATH = re.compile(r"^/devices/([A-Za-z0-9_.:-]{1,64})/detections$")
_KEY = re.compile(r"^[^\x00-\x1f]{1,256}$")


def _json(content_type: bytes) -> bool:
    """``application/json`` (parameters allowed): what the route parses as JSON too."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json"


class LeanDetections:
    """Serves good detection posts itself; hands every other request to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or (match := _PATH.match(scope["path"])) is None
            or (state := getattr(scope["app"].state, "gridplus", None)) is None
        ):
            await self.app(scope, receive, send)
            return
        key = content_type = None
        for name, value in scope["headers"]:
            if name == b"x-device-key" and key is None:
                key = value.decode("latin-1")
            elif name == b"content-type" and content_type is None:
                content_type = value
        body, gone = await _read(receive)
        if gone:
            return
        scope["route"] = self._route or self._find()  # the metrics' label
        body_ok = bool(body) and content_type is not None and _json(content_type)
        detection = _validate(body) if body_ok and key and _KEY.match(key) else None
        if detection is None:  # the route refuses it, in its own words and order
            await self.app(scope, replay(body, receive), send)
            return
        response = await self._serve(state, match.group(1), key, detection)  # type: ignore[arg-type]
        await response(scope, receive, send)

    async def _serve(self, state: Any, device_id: str, key: str, body: CameraDetection) -> Response:
        try:
            if state.devices is not None:
                device = await state.devices.keys.authenticate(
                    state.devices.database.autocommit, device_id, key
                )
            else:
                device = await devices.authenticate(state.sessions, device_id, key)
        except DeviceAuthError as error:
            return _refusal(HTTPException(401, str(error), headers=door.UNAUTHORIZED))
        try:
            accepted = await device_reports.receive_detection(door.intake(state), device, body)
        except device_reports.DeviceForbidden as error:
            return _refusal(HTTPException(403, str(error)))
        except IntakeError as error:  # as ``api.errors``' handler words it
            message = f"{error.field}: {error.message}"
            return problem(422, CODES[422], message, [f"body.{error.field}"])
        except door.NOT_NOW:
            return _refusal(door.unavailable())
        return Response(accepted.model_dump_json(), 202, media_type="application/json")

    def _find(self) -> Any:
        """The route this door stands in for, from its own router: the app's route list
        holds included routers, not their routes (FastAPI 0.16x), and a label that was not
        found made the metrics count every lean post as ``unmatched``."""
        for route in door.router.routes:
            if getattr(route, "path", None) == PATH and "POST" in getattr(route, "methods", ()):
                self._route = route
        return self._route


def _refusal(error: HTTPException) -> Response:
    """The route's ``HTTPException`` as ``api.errors`` answers it on ``/devices``."""
    response = problem(error.status_code, CODES[error.status_code], str(error.detail))
    response.headers.update(error.headers or {})
    return response


def _validate(body: bytes) -> CameraDetection | None:
    try:
        return CameraDetection.model_validate_json(body)
    except ValidationError:
        return None


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The body (already capped by ``api.body_limit``) and whether the client left."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def install(app: FastAPI) -> None:
    """Innermost: inside the body cap, the device gate, the rate limiter and the metrics."""
    app.add_middleware(LeanDetections)
