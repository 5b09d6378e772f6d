"""One error shape for every failure: ``{"error", "message", "fields"}``.

Validation errors name each field at fault (``body.location.lat``); a workflow's refusal
of an action becomes 409 with the validator's reason, never a 500; a workflow that cannot
answer now (no worker polling, Temporal unreachable) 503 with the reason and ``Retry-After``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from api.edge import EdgeAnswers
from schemas.cases.api import Problem
from services.attachments.library import AttachmentRejected
from services.cases.filing import IntakeError
from services.stewards.registry import ImportRejected
from services.temporal_gateway import ActionRefused, NotFound, WorkflowUnavailable

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}

# Workers restart in seconds; a client that comes back after this finds them polling again.
RETRY_AFTER_SECONDS = 5

# The 503 as documented on every route that queries or updates a workflow.
UNAVAILABLE: dict[str, object] = {
    "model": Problem,
    "description": "the workflow cannot answer now (no worker, or Temporal unreachable); "
    "retry after `Retry-After` seconds (an action with the same Idempotency-Key)",
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
}


def problem(status: int, error: str, message: str, fields: list[str] | None = None) -> JSONResponse:
    body = Problem(error=error, message=message, fields=fields or [])
    return JSONResponse(body.model_dump(), status_code=status)


def problem_answer(scope: Scope, status: int, error: str, message: str) -> Response:
    """The problem shape as an edge answer (``api.edge``): the default of every path."""
    return problem(status, error, message)


def edge_answers() -> EdgeAnswers:
    """The problem shape everywhere; ``api.main`` registers the channels' own formats."""
    return EdgeAnswers(problem_answer)


def unavailable(message: str) -> JSONResponse:
    """503 with ``Retry-After``: the caller should come back, nothing was lost."""
    response = problem(503, "unavailable", message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(routes: list[BaseRoute], request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route's).

    A path with a GET and a POST route answered ``Allow: POST`` to a PUT: clients (and
    Schemathesis' ``allow_header_conformance``) then believe GET is not there.
    """
    allowed = [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
               for route in routes)
    ]  # fmt: skip
    return ", ".join(allowed)


def install(app: FastAPI, answers: EdgeAnswers | None = None) -> None:
    answer = answers or edge_answers()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        fields = [".".join(str(part) for part in e["loc"]) for e in errors]
        message = "; ".join(f"{field}: {e['msg']}" for field, e in zip(fields, errors, strict=True))
        return problem(422, "invalid", message[:2000], fields)

    @app.exception_handler(IntakeError)
    async def _intake(_: Request, exc: IntakeError) -> JSONResponse:
        return problem(422, "invalid", f"{exc.field}: {exc.message}", [f"body.{exc.field}"])

    @app.exception_handler(AttachmentRejected)
    async def _attachments(_: Request, exc: AttachmentRejected) -> JSONResponse:
        message = f"evidence: {exc.message}: {', '.join(exc.ids)}"
        return problem(422, "invalid", message[:2000], ["body.evidence"])

    @app.exception_handler(ImportRejected)
    async def _import(_: Request, exc: ImportRejected) -> JSONResponse:
        fields = [f"rows[{e.row}].{e.field}" for e in exc.errors]
        message = "; ".join(f"row {e.row}: {e.field}: {e.message}" for e in exc.errors)
        return problem(422, "invalid", message[:2000], fields)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, "not_found", f"no {exc.kind} {exc}")

    @app.exception_handler(ActionRefused)
    async def _refused(_: Request, exc: ActionRefused) -> JSONResponse:
        return problem(409, exc.code, exc.message)

    @app.exception_handler(WorkflowUnavailable)
    async def _unavailable(_: Request, exc: WorkflowUnavailable) -> JSONResponse:
        return unavailable(f"{exc.subject} cannot answer right now: {exc.reason}; retry")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = CODES.get(exc.status_code, "error")
        response = answer(request.scope, exc.status_code, code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(app.router.routes, request)
        return response
