"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2): services, requests, tokens.

Thin: parameters are checked here against the spec's names (an unknown or repeated one is a
400), the rules live in ``services.intake.open311`` and the XML/JSON in ``api.open311_format``.
Every error, even a 413 or a malformed query, answers in the spec's error format.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from temporalio.service import RPCError

from api.auth import authenticate
from api.deps import IdempotencyHeader, State
from api.open311_format import FORMATS, render, render_errors
from api.security import InvalidToken
from schemas.intake.open311 import Open311Submission
from schemas.platform.common import INSTANT_PATTERN, LINE_PATTERN, Line, forbidden_character
from services.intake import open311, open311_queries
from services.intake.open311 import Intake311, Open311Error
from services.intake.open311_queries import RequestQuery

Format = Annotated[Literal["json", "xml"], Path(description="the answer's format")]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]
COMMON = {"jurisdiction_id", "api_key"}
LIST_FILTERS = {"service_request_id", "service_code", "start_date", "end_date", "status"}


class Open311Route(APIRoute):
    """Every failure rendered as the spec's ``errors`` document (bodies: ``api.body_limit``)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def spec_errors(request: Request) -> Response:
            fmt = str(request.path_params.get("fmt", "xml"))
            try:
                if fmt not in FORMATS:
                    raise Open311Error(400, (400, f"format {fmt!r}: use xml or json"))
                return await handler(request)
            except Open311Error as error:
                return render_errors(fmt, error.status, error.errors)
            except RequestValidationError as error:
                described = [(400, _describe(e)) for e in error.errors()]
                return render_errors(fmt, 400, described)
            except HTTPException as error:
                return render_errors(fmt, error.status_code, [(error.status_code, error.detail)])

        return spec_errors


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)

# Documented answers: the body is XML or JSON as ``fmt`` says, errors are the spec's document.
SPEC_TYPES: dict[str, object] = {"text/xml": {}, "application/json": {}}
SPEC_ERRORS = {
    400: "unknown, repeated or invalid parameter, or a format other than xml/json",
    403: "missing or invalid api_key",
    404: "no such service or request, or another jurisdiction",
    413: "request body over 64 KiB",
}


def answers(*codes: int) -> dict[int | str, dict[str, object]]:
    """``responses=`` of a GeoReport route: 200 and ``codes``, each in XML or JSON."""
    documented: dict[int | str, dict[str, object]] = {200: {"content": SPEC_TYPES}}
    for code in codes:
        documented[code] = {"description": SPEC_ERRORS[code], "content": SPEC_TYPES}
    return documented


def _query_parameter(name: str, schema: dict[str, object], description: str) -> dict[str, object]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


# The query parameters are read raw (an unknown or repeated one is a 400), so they are
# declared here for the OpenAPI document rather than derived from the signature. An empty
# value means "not sent" (the spec's rule for optional arguments), so "" is valid everywhere.
QUERY_MAX = {"api_key": 2000, "service_request_id": 200 * 65, "service_code": 50 * 65}
QUERY_MAX_DEFAULT = 200


def _listed_schema(name: str, most: int) -> dict[str, object]:
    """A comma-separated list of at most ``most`` values of 64 characters (``_listed``)."""
    value = r"[^\x00-\x1f,]{0,64}"
    pattern = f"^{value}(,{value}){{0,{most - 1}}}$"
    return {"type": "string", "maxLength": QUERY_MAX[name], "pattern": pattern}


_TEXT: dict[str, object] = {
    "type": "string",
    "maxLength": QUERY_MAX_DEFAULT,
    "pattern": LINE_PATTERN,
}
_WHEN: dict[str, object] = {
    "anyOf": [
        {"type": "string", "format": "date-time", "pattern": INSTANT_PATTERN},
        {"type": "string", "enum": [""]},
    ]
}
COMMON_QUERY = [
    _query_parameter("jurisdiction_id", _TEXT, "this town's jurisdiction id (optional)"),
    _query_parameter("api_key", {**_TEXT, "maxLength": QUERY_MAX["api_key"]}, "the client's key"),
]
LIST_QUERY = [
    *COMMON_QUERY,
    _query_parameter("service_request_id", _listed_schema("service_request_id", 200),
                     "comma-separated ids (200 at most); overrides the rest"),
    _query_parameter("service_code", _listed_schema("service_code", 50),
                     "comma-separated service codes (50 at most)"),
    _query_parameter("start_date", _WHEN, "earliest requested_datetime (w3, with zone)"),
    _query_parameter("end_date", _WHEN, "latest requested_datetime; 90 days after start at most"),
    _query_parameter("status", {"type": "string", "enum": ["", "open", "closed", "open,closed"]},
                     "open, closed, or both"),
]  # fmt: skip


def _describe(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"] if part not in ("body", "query"))
    return f"{field}: {error['msg']}"


def _params(pairs: list[tuple[str, str]], allowed: set[str]) -> dict[str, str]:
    """Known, unrepeated, non-empty parameters ("empty" means "not sent", as the spec says)."""
    seen: dict[str, str] = {}
    errors = []
    for name, value in pairs:
        bad = forbidden_character(name + value, multiline=name == "description")
        if bad is not None:  # PostgreSQL refuses NUL; XML has no place for the others
            shown = name if forbidden_character(name) is None else repr(name)
            errors.append((400, f"{shown}: control character {bad} is not allowed"))
        elif name not in allowed:
            errors.append((400, f"{name}: unknown parameter"))
        elif name in seen:
            errors.append((400, f"{name}: given more than once"))
        seen[name] = value
    if errors:
        raise Open311Error(400, *errors)
    return {name: value for name, value in seen.items() if value.strip()}


def _query(request: Request, allowed: set[str] = COMMON) -> dict[str, str]:
    params = _params(list(request.query_params.multi_items()), allowed | COMMON)
    for name, value in params.items():
        longest = QUERY_MAX.get(name, QUERY_MAX_DEFAULT)
        if len(value) > longest:
            raise Open311Error(400, (400, f"{name}: at most {longest} characters"))
    open311.check_jurisdiction(params.get("jurisdiction_id"))
    return params


async def _submitted(request: Request) -> list[tuple[str, str]]:
    """The POST's parameters: form-encoded as the spec says, or a flat JSON object."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("a JSON object is expected")
            return [(str(k), "" if v is None else str(v)) for k, v in _flat(data)]
        if content_type not in ("", "application/x-www-form-urlencoded"):
            raise ValueError(f"{content_type}: send application/x-www-form-urlencoded")
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (ValueError, UnicodeDecodeError) as error:
        raise Open311Error(400, (400, f"unreadable request body: {error}")) from error


def _flat(data: dict[str, Any]) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in data.items():
        if key == "attribute" and isinstance(value, dict):
            pairs += [(f"attribute[{k}]", v) for k, v in value.items()]
        elif isinstance(value, dict | list):
            raise ValueError(f"{key}: a single value is expected")
        else:
            pairs.append((key, value))
    return pairs


@router.get(
    "/services.{fmt}", responses=answers(400, 404), openapi_extra={"parameters": COMMON_QUERY}
)
async def list_services(fmt: Format, request: Request, state: State) -> Response:
    """GET Service List: every case type of the catalog."""
    _query(request)
    return render(fmt, "services", open311.services(state.catalog))


@router.get("/services/{service_code}.{fmt}", responses=answers(400, 404),
            openapi_extra={"parameters": COMMON_QUERY})  # fmt: skip
async def service_definition(
    service_code: Annotated[Line, Path(max_length=40)], fmt: Format, request: Request, state: State
) -> Response:
    """GET Service Definition (no service defines extra attributes)."""
    _query(request)
    return render(
        fmt, "service_definition", open311.service_definition(state.catalog, service_code)
    )


FORM_SCHEMA = Open311Submission.model_json_schema()
POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": FORM_SCHEMA},
            "application/json": {"schema": FORM_SCHEMA},
        },
    }
}


@router.post("/requests.{fmt}", openapi_extra=POST_BODY, responses=answers(400, 403, 404, 413))
async def create_request(
    fmt: Format, request: Request, state: State, idempotency_key: IdempotencyHeader = None
) -> Response:
    """POST Service Request: files a case (source ``open311``); needs a client ``api_key``."""
    pairs = list(request.query_params.multi_items()) + await _submitted(request)
    for name, _ in pairs:
        if name.startswith("attribute["):
            raise Open311Error(400, (400, f"{name}: this service defines no attributes"))
    fields = set(Open311Submission.model_fields)
    params = _params(pairs, fields)
    client_id = await _client(state, params.get("api_key"))
    try:
        form = Open311Submission.model_validate(params)
    except ValidationError as error:
        raise Open311Error(400, *((400, _describe(e)) for e in error.errors())) from error
    intake = Intake311(
        state.temporal, state.sessions, state.catalog, state.grids, state.settings.task_queue
    )
    try:
        answer = await open311.submit(intake, client_id, form, idempotency_key)
    except RPCError as error:  # the spec's "General Service Error" is a 400
        raise Open311Error(400, (503, "cases cannot be filed right now; try again")) from error
    return render(fmt, "service_requests", [answer])


async def _client(state: State, api_key: str | None) -> str:
    """The client application behind an ``api_key`` (a gridplus token of role ``system``)."""
    if not api_key:
        raise Open311Error(403, (403, "Missing api_key -- can't proceed with create_request."))
    try:
        actor = await authenticate(state.settings, state.sessions, state.revocations, api_key)
    except InvalidToken:
        actor = None
    if actor is None or actor.role != "system":
        message = "Invalid api_key received -- can't proceed with create_request."
        raise Open311Error(403, (403, message))
    return actor.id


@router.get("/requests/{service_request_id}.{fmt}", responses=answers(400, 404),
            openapi_extra={"parameters": COMMON_QUERY})  # fmt: skip
async def get_request(
    service_request_id: Annotated[Line, Path(max_length=64)],
    fmt: Format,
    request: Request,
    state: State,
) -> Response:
    """GET Service Request: one request, as a list of one (the spec's shape)."""
    _query(request)
    rows = await open311_queries.find(
        state.sessions, state.catalog, RequestQuery(ids=(service_request_id,))
    )
    if not rows:
        raise Open311Error(404, (404, f"service_request_id {service_request_id!r} not found"))
    return render(fmt, "service_requests", rows)


@router.get(
    "/requests.{fmt}", responses=answers(400, 404), openapi_extra={"parameters": LIST_QUERY}
)
async def list_requests(fmt: Format, request: Request, state: State) -> Response:
    """GET Service Requests: the spec's filters; by default the last 90 days, 1000 at most."""
    query = open311_queries.parse_query(_query(request, LIST_FILTERS))
    return render(
        fmt, "service_requests", await open311_queries.find(state.sessions, state.catalog, query)
    )


@router.get("/tokens/{token}.{fmt}", responses=answers(400, 404),
            openapi_extra={"parameters": COMMON_QUERY})  # fmt: skip
async def get_token(
    token: Annotated[Line, Path(max_length=64)], fmt: Format, request: Request, state: State
) -> Response:
    """GET service_request_id from a token."""
    _query(request)
    return render(fmt, "service_requests", [await open311.token(state.sessions, token)])
