"""The OpenAPI document, made to tell clients and fuzzers the truth about the edge.

FastAPI derives most of it from the routes; what it cannot know is added here, in one place:

* optional parameters are ``required: false`` with their real schema, not ``anyOf`` with
  ``null``: a header or a query string cannot carry a JSON null, and a fuzzer that sends the
  text ``null`` for ``Idempotency-Key`` only learns that ``null`` is not eight characters;
* every operation with a body documents the 413 and 408 that ``api.body_limit`` answers
  before routing (with the limit), in the problem shape or Open311's error document;
* the chat-bot gateway's routes read their raw body (the signature covers its bytes), so
  their bodies (``BotCallback``, ``PresenceEvent``) and the HMAC signature scheme are
  declared here rather than derived.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from api.body_limit import MAX_BODY_BYTES, PREFIX_CAPS, STREAMED_PATHS, cap_for
from schemas.stewards.bot import BotCallback, BotReport, PresenceEvent

REF = "#/components/schemas/{model}"
SIGNATURE_SCHEME = "gatewaySignature"
SIGNATURE: dict[str, Any] = {
    "type": "apiKey",
    "in": "header",
    "name": "X-Gridplus-Signature",
    "description": (
        "`v1=` and the hex HMAC-SHA256, keyed with the shared bot secret, of "
        "`v1:<X-Gridplus-Timestamp>:<raw body>` (Slack's scheme); the timestamp (Unix "
        "seconds, header `X-Gridplus-Timestamp`) must be within 5 minutes of the server's "
        "clock, and each `request_id` acts once."
    ),
}
BOT_BODIES: dict[str, type[BaseModel]] = {
    "/bot/callback": BotCallback,
    "/bot/presence": PresenceEvent,
    "/bot/report": BotReport,
}
BODY_METHODS = ("post", "put", "patch")
SIGNED_UPLOADS = ("/bot/attachments",)  # signed like the bodies above, but streamed


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {type: null}]`` as ``X`` (keeping title, description, default)."""
    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        return schema
    kept = [branch for branch in branches if branch != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(branches):
        return schema
    merged = {key: value for key, value in schema.items() if key != "anyOf"}
    merged.update(kept[0])
    if merged.get("default", "") is None:
        del merged["default"]
    return merged


def _refused(path: str, status: int, description: str) -> dict[str, Any]:
    if path.startswith("/open311/"):
        types: dict[str, object] = {"text/xml": {}, "application/json": {}}
        return {"description": description, "content": types}
    ref = {"$ref": REF.format(model="Problem")}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _bot_body(schema: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """``model`` as a component (and the models it uses), as a required JSON body."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = model.model_json_schema(ref_template=REF)
    for name, definition in body.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault(model.__name__, body)
    ref = {"$ref": REF.format(model=model.__name__)}
    return {"required": True, "content": {"application/json": {"schema": ref}}}


def _bot_operation(schema: dict[str, Any], path: str, operation: dict[str, Any]) -> None:
    if path in BOT_BODIES:  # else a signed upload: its multipart body stays as declared
        operation["requestBody"] = _bot_body(schema, BOT_BODIES[path])
    operation["security"] = [{SIGNATURE_SCHEME: []}]
    operation["parameters"] = [
        parameter
        for parameter in operation.get("parameters", [])
        if parameter.get("name") != SIGNATURE["name"]
    ]
    for parameter in operation["parameters"]:
        if parameter.get("name") == "X-Gridplus-Timestamp":
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "pattern": "^[0-9]{1,12}$"}
            parameter["description"] = "Unix seconds when the gateway signed the request"


def truthful(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the corrections above applied (in place; returned for chaining)."""
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _without_null(parameter.get("schema", {}))
            if (path in BOT_BODIES or path in SIGNED_UPLOADS) and method == "post":
                _bot_operation(schema, path, operation)
            if method in BODY_METHODS and path not in STREAMED_PATHS:
                cap = cap_for(path, MAX_BODY_BYTES, PREFIX_CAPS)
                responses = operation.setdefault("responses", {})
                too_large = f"request body over {cap} bytes (refused before it is read)"
                responses.setdefault("413", _refused(path, 413, too_large))
                responses["413"]["description"] = too_large  # the cap of this very path
                responses.setdefault("408", _refused(path, 408, "request body not sent in time"))
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[SIGNATURE_SCHEME] = SIGNATURE
    return schema


def install(app: FastAPI) -> None:
    """Serve the corrected document (built once, like FastAPI's own)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = truthful(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
