"""The edge answers (``api.edge``): a channel's own error format is registered by the app,
and the generic middlewares (body cap, rate limit) only call what they were given.

Run against a small real FastAPI app over ASGI: no Temporal or database is involved in a
refusal at the edge, and the full app's Open311 answers are covered in test_rate_limit.py
and test_body_edge.py.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from starlette.types import Scope

from api import body_limit, errors, rate_limit
from api.edge import EdgeAnswers
from settings import Settings


def _teapot(scope: Scope, status: int, error: str, message: str) -> PlainTextResponse:
    return PlainTextResponse(f"channel says {error}: {message}", status_code=status)


def _app(answers: EdgeAnswers) -> FastAPI:
    app = FastAPI()
    settings = Settings(
        write_burst=1, write_rate_per_second=0.001, open311_burst=1, max_body_bytes=1024
    )
    errors.install(app, answers)
    body_limit.install(app, settings, answers)
    rate_limit.install(app, settings, answers)

    @app.post("/channel/reports")
    async def channel() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/cases/{case_id}/notes")
    async def note(case_id: str) -> dict[str, str]:
        return {"ok": case_id}

    return app


async def _post(app: FastAPI, path: str, body: bytes = b"{}") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        return await client.post(path, content=body, headers={"content-type": "text/plain"})


async def test_a_registered_prefix_answers_in_its_own_format() -> None:
    answers = errors.edge_answers()
    answers.register("/channel/", _teapot)
    too_big = await _post(_app(answers), "/channel/reports", b"x" * 2048)
    assert too_big.status_code == 413
    assert too_big.text.startswith("channel says too_large")

    app = _app(answers)

    assert (await _post(app, "/channel/reports")).status_code == 200
    limited = await _post(app, "/channel/reports")
    assert limited.status_code == 429
    assert limited.text.startswith("channel says too_many_requests: too many requests")
    assert int(limited.headers["Retry-After"]) >= 1


async def test_other_paths_keep_the_problem_shape() -> None:
    answers = errors.edge_answers()
    answers.register("/channel/", _teapot)
    app = _app(answers)
    assert (await _post(app, "/cases/C1/notes")).status_code == 200
    problem = await _post(app, "/cases/C1/notes")
    assert problem.status_code == 429
    assert problem.json()["error"] == "too_many_requests"
    assert set(problem.json()) == {"error", "message", "fields"}


async def test_without_a_registration_the_limiter_knows_no_channel_format() -> None:
    app = _app(errors.edge_answers())
    unknown = await _post(app, "/open311/v2/requests.json")  # no such route in this app
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
    refused = await _post(app, "/open311/v2/requests.json")
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_requests"


def test_the_openapi_429_names_the_problem_shape_only_where_it_applies() -> None:
    answers = errors.edge_answers()
    answers.register("/channel/", _teapot)
    paths = _app(answers).openapi()["paths"]
    channel = paths["/channel/reports"]["post"]["responses"]["429"]
    note = paths["/cases/{case_id}/notes"]["post"]["responses"]["429"]
    assert "content" not in channel
    assert note["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
