"""Property-based checks of the whole API against its own OpenAPI schema (Schemathesis).

For every documented operation Schemathesis generates requests that fit the schema, and each
answer must be no 5xx, carry a status code the operation documents, and a documented content
type. Callers are real: a supervisor's token by default, and where only someone else may call
(a department, an enterprise, an inspector, a device, the bot gateway, an Open311 client) that
caller's credentials, so the generated requests get past authentication into the handlers.

Why a thread: the app must run on the test's event loop (its Temporal client and database
pool live there), while Hypothesis drives a plain function. Hypothesis runs in a worker
thread and each request is handed to the loop, so nothing is mocked and nothing changes loop.
Bounded: ``MAX_EXAMPLES`` per operation, derandomized (the same requests on every run).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from schemas.inspections.checklists import InspectorIn
from services.inspections.registry import upsert_inspectors
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import device
from tests.security_support import (
    Api,
    forged_token,
    signed,
    token,
    unlimited_api_answering,
)

__all__ = ["unlimited_api_answering"]  # the module's "api" fixture, imported

# examples per operation and mode: valid requests (positive) and invalid ones (negative)
MAX_EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}
REQUEST_TIMEOUT = 30.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,  # the body is what the document says it is
    response_headers_conformance,  # and so are the documented headers (Retry-After...)
]

RAW_SCHEMA: dict[str, Any] = create_app(Settings()).openapi()
SCHEMA = schemathesis.openapi.from_dict(RAW_SCHEMA)
OPERATIONS = sorted(
    (path, method.upper())
    for path, operations in RAW_SCHEMA["paths"].items()
    for method in operations
)
DEPARTMENT, ENTERPRISE, INSPECTOR = "fire", "ET-ST-OWN", "IT-ST-1"


@dataclass
class Credentials:
    settings: Settings
    camera: tuple[str, str]

    def bearer(self, path: str) -> str | None:
        """The token of a caller this route admits (the supervisor unless only others may)."""
        if path.startswith(("/bot/", "/devices/", "/open311/")):
            return None
        if path.startswith("/departments/") or path.endswith(("/reinspection", "/enforcement")):
            return token(self.settings, "department", DEPARTMENT)
        if path.endswith("/observations"):
            return token(self.settings, "device", "CAM-ST-1")
        if path.startswith("/enterprises/") and path.endswith(("/records", "/proof")):
            return token(self.settings, "enterprise", ENTERPRISE)
        if path.endswith(("/visit", "/results", "/finish")):
            return token(self.settings, "inspector", INSPECTOR)
        return token(self.settings, "supervisor", "center-st")


def _replace_header(headers: dict[str, Any], name: str, value: str) -> None:
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]
    headers[name] = value


def prepare(case: Any, credentials: Credentials) -> dict[str, Any]:
    """The generated request with real credentials, as ``httpx`` request arguments."""
    path: str = case.operation.path
    params = case.path_parameters if case.path_parameters is not None else {}
    if path.startswith("/devices/"):
        params["device_id"] = credentials.camera[0]
    if path.startswith("/departments/"):
        params["department"] = DEPARTMENT
    if path.startswith("/enterprises/"):
        params["enterprise_id"] = ENTERPRISE
    case.path_parameters = params
    if case.headers is None:
        case.headers = {}
    bearer = credentials.bearer(path)
    if bearer:
        _replace_header(case.headers, "Authorization", f"Bearer {bearer}")
    if path.startswith("/devices/"):
        _replace_header(case.headers, "X-Device-Key", credentials.camera[1])
    if path == "/campaigns" and isinstance(case.body, dict) and "campaign_id" in case.body:
        # rounds started here run with no worker: keep them apart from the ids that the
        # ``GET /campaigns/{campaign_id}`` examples query, which would wait on a worker
        case.body["campaign_id"] = f"st-{case.body['campaign_id']}"[:64]
    if path == "/open311/v2/requests.{fmt}" and isinstance(case.body, dict):
        case.body["api_key"] = token(credentials.settings, "system", "st-app")
    sent = case.as_transport_kwargs(base_url="http://gridplus")
    request: dict[str, Any] = {
        key: sent[key] for key in ("method", "url", "headers", "params") if key in sent
    }
    if "json" in sent:
        request["content"] = json.dumps(sent["json"]).encode()
        request["headers"].setdefault("Content-Type", "application/json")
    elif isinstance(sent.get("data"), dict):
        request["data"] = sent["data"]
    elif sent.get("data") is not None:
        data = sent["data"]
        request["content"] = data.encode() if isinstance(data, str) else data
    if path.startswith("/bot/"):
        for name, value in signed(credentials.settings, request.get("content", b"")).items():
            _replace_header(request["headers"], name, value)
    return request


@pytest.fixture(scope="module")
async def credentials(
    sessions: SessionFactory, grids: GridIndex, settings: Settings
) -> Credentials:
    inspector = InspectorIn(id=INSPECTOR, name="模糊检查员", grid_id="G001",
                            qualifications=["fire"], on_duty=False)  # fmt: skip
    await upsert_inspectors(sessions, [inspector])
    # the observations' device token names a camera bound to the enterprise (0009)
    await device(sessions, grids, "G040", enterprise_id=ENTERPRISE, device_id="CAM-ST-1")
    camera = await device(sessions, grids, "G040")
    return Credentials(settings, (camera.id, camera.key))


@pytest.mark.parametrize("mode", list(MAX_EXAMPLES), ids=lambda mode: mode.value)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
async def test_operation_conforms_to_its_schema(
    api: Api, credentials: Credentials, path: str, method: str, mode: GenerationMode
) -> None:
    operation = SCHEMA[path][method]
    loop = asyncio.get_running_loop()

    async def send(request: dict[str, Any]) -> httpx.Response:
        return await asyncio.wait_for(api.client.request(**request), REQUEST_TIMEOUT)

    @settings(
        max_examples=MAX_EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        request = prepare(case, credentials)
        try:
            response = asyncio.run_coroutine_threadsafe(send(request), loop).result()
        except httpx.InvalidURL:
            reject()  # a negative query over 64 KiB: httpx will not send it, nothing to judge
        case.validate_response(response, checks=CHECKS)

    try:
        await asyncio.to_thread(run)
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # nothing in this operation's schema can be sent wrong (no body, no constrained
        # parameter): there is no negative case to try


# Operations the document says need a bearer token (the ``bearer`` security scheme).
BEARER_OPERATIONS = sorted(
    (path, method.upper())
    for path, operations in RAW_SCHEMA["paths"].items()
    for method, operation in operations.items()
    if {"bearer": []} in operation.get("security", [])
)


@pytest.mark.parametrize(
    ("path", "method"), BEARER_OPERATIONS, ids=[f"{m} {p}" for p, m in BEARER_OPERATIONS]
)
async def test_a_declared_bearer_scheme_is_enforced(
    api: Api, credentials: Credentials, path: str, method: str
) -> None:
    """Schemathesis' ``ignored_auth`` in process: a generated request that gets past auth
    with the right token is a 401 without it and with a forged one, whatever its body."""
    operation = SCHEMA[path][method]
    loop = asyncio.get_running_loop()
    forged = forged_token(credentials.settings)

    async def send(request: dict[str, Any]) -> httpx.Response:
        return await asyncio.wait_for(api.client.request(**request), REQUEST_TIMEOUT)

    @settings(
        max_examples=3,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def run(case: Any) -> None:
        request = prepare(case, credentials)
        headers = {k: v for k, v in request["headers"].items() if k.lower() != "authorization"}
        for authorization in (None, f"Bearer {forged}", "Basic dXNlcjpwYXNz"):
            sent = {**request, "headers": headers}
            if authorization:
                sent["headers"] = {**headers, "Authorization": authorization}
            response = asyncio.run_coroutine_threadsafe(send(sent), loop).result()
            # the cap may refuse an over-long generated body first, before any token check
            assert response.status_code in (401, 413), (authorization, response.text[:200])
            if response.status_code == 401:
                assert response.headers["WWW-Authenticate"] == "Bearer"

    await asyncio.to_thread(run)
