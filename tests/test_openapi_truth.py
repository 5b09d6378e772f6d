"""The OpenAPI document tells clients and fuzzers the truth, and every
text input it describes refuses control characters (item 3, as the schema states it).

Read from the app's own document, no server needed: what is checked here is what a client
generator or Schemathesis reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.main import create_app
from settings import Settings

SCHEMA: dict[str, Any] = create_app(Settings()).openapi()
PATHS: dict[str, dict[str, Any]] = SCHEMA["paths"]
OPERATIONS = [(path, method, op) for path, ops in PATHS.items() for method, op in ops.items()]
# routes a bearer token does not open: the gateway signs, devices and Open311 have keys
# /files/: signed download links (``services.attachments.signing``), the link is the permission
# /satisfaction/: the Open311 citizen's signed rating links (``services.cases.rating_links``)
NOT_BEARER = (
    "/bot/",
    "/devices/",
    "/open311/",
    "/healthz",
    "/readyz",
    "/files/",
    "/satisfaction/",
)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = SCHEMA["components"]["schemas"][name]
    return schema


Found = Iterator[tuple[str, dict[str, Any]]]


def _strings(schema: dict[str, Any], where: str, seen: frozenset[str]) -> Found:
    """Every string schema reachable from ``schema``, with where it sits."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen = seen | {name}
    schema = _resolve(schema)
    if schema.get("type") == "string":
        yield where, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            yield from _strings(branch, where, seen)
    for name, sub in schema.get("properties", {}).items():
        yield from _strings(sub, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        yield from _strings(schema["items"], f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _strings(schema["additionalProperties"], f"{where}{{}}", seen)


def _inputs() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, method, operation in OPERATIONS:
        for parameter in operation.get("parameters", []):
            name = f"{method} {path} {parameter['in']}.{parameter['name']}"
            yield from _strings(parameter["schema"], name, frozenset())
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            if media == "text/csv":
                continue  # the roster CSV is parsed into ``StewardImport`` rows (checked there)
            yield from _strings(content.get("schema", {}), f"{method} {path} body", frozenset())


def test_every_text_input_states_and_means_no_control_characters() -> None:
    """Each string a client may send carries an enum, a date-time format or a pattern, and
    that pattern refuses NUL (so the schema says what the validators do)."""
    loose = []
    for where, schema in _inputs():
        if "enum" in schema or "const" in schema or schema.get("format") == "duration":
            continue  # a choice, or parsed whole as an ISO 8601 duration
        pattern = schema.get("pattern")
        if pattern is None or re.search(pattern, "a\x00b") or re.search(pattern, "\x00"):
            loose.append(where)
    assert not loose, "\n".join(loose)


def test_bearer_auth_is_a_security_scheme_on_every_token_route() -> None:
    schemes = SCHEMA["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "gp1",
        "description": schemes["bearer"]["description"],
    }
    for path, method, operation in OPERATIONS:
        if path.startswith(NOT_BEARER):
            continue
        assert operation.get("security") == [{"bearer": []}], (method, path)
        names = {p["name"].lower() for p in operation.get("parameters", [])}
        assert "authorization" not in names, (method, path)  # the scheme, not a header param


def test_the_format_is_an_enum_and_idempotency_key_a_bounded_string() -> None:
    for path, method, operation in OPERATIONS:
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            branches = schema.get("anyOf", [])
            assert {"type": "null"} not in branches, (method, path, parameter["name"])
            if parameter["name"] == "fmt":
                assert schema["enum"] == ["json", "xml"], (method, path)
            if parameter["name"] == "Idempotency-Key":
                assert parameter["in"] == "header" and not parameter["required"]
                assert schema["type"] == "string"
                assert (schema["minLength"], schema["maxLength"]) == (8, 128)
                assert schema["pattern"] == "^[A-Za-z0-9_.:-]+$"


@pytest.mark.parametrize(
    ("path", "model"), [("/bot/callback", "BotCallback"), ("/bot/presence", "PresenceEvent")]
)
def test_bot_routes_declare_their_body_and_signature(path: str, model: str) -> None:
    operation = PATHS[path]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": f"#/components/schemas/{model}"}
    assert _resolve(body)["required"]
    assert operation["security"] == [{"gatewaySignature": []}]
    scheme = SCHEMA["components"]["securitySchemes"]["gatewaySignature"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == (
        "apiKey",
        "header",
        "X-Gridplus-Signature",
    )
    assert "HMAC-SHA256" in scheme["description"]
    stamp = next(p for p in operation["parameters"] if p["name"] == "X-Gridplus-Timestamp")
    assert stamp["required"] and stamp["in"] == "header"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/cases", "reported_from"),
        ("/cases", "reported_to"),
        ("/stats/evaluation", "from"),
        ("/stats/evaluation", "to"),
        ("/open311/v2/requests.{fmt}", "start_date"),
        ("/open311/v2/requests.{fmt}", "end_date"),
    ],
)
def test_time_window_parameters_are_date_times_in_the_accepted_years(path: str, name: str) -> None:
    parameter = next(p for p in PATHS[path]["get"]["parameters"] if p["name"] == name)
    schema = parameter["schema"]
    if path.startswith("/open311/"):  # where an empty value means "not sent"
        assert {"type": "string", "enum": [""]} in schema["anyOf"]
        schema = next(branch for branch in schema["anyOf"] if "format" in branch)
    assert (schema["type"], schema["format"]) == ("string", "date-time")
    assert re.match(schema["pattern"], "2026-11-30T08:00:00+08:00")
    assert not re.match(schema["pattern"], "9999-12-31T00:00:00Z")
    assert not re.match(schema["pattern"], "0001-01-01T00:00:00+14:00")


def test_every_body_documents_the_edge_refusals() -> None:
    for path, method, operation in OPERATIONS:
        if "requestBody" in operation:
            assert {"408", "413"} <= set(operation["responses"]), (method, path)
    import_413 = PATHS["/stewards/import"]["post"]["responses"]["413"]["description"]
    assert str(5 * 1024 * 1024) in import_413
    assert str(64 * 1024) in PATHS["/cases"]["post"]["responses"]["413"]["description"]


async def test_a_405_names_every_method_the_path_serves() -> None:
    """A path with a GET and a POST route answered ``Allow: POST`` (only the first route's)."""
    transport = httpx.ASGITransport(app=create_app(Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://gridplus") as client:
        records = await client.request("OPTIONS", "/enterprises/ET-1/records")
        assert records.status_code == 405
        assert records.headers["Allow"] == "GET, POST"
        bot = await client.get("/bot/callback")
        assert (bot.status_code, bot.headers["Allow"]) == (405, "POST")
        # Open311 clients parse the GeoReport error document, even for a wrong method or path
        wrong = await client.delete("/open311/v2/requests.json")
        assert (wrong.status_code, wrong.headers["Allow"]) == (405, "GET, POST")
        assert wrong.json() == [{"code": 405, "description": "Method Not Allowed"}]
        unknown = await client.get("/open311/v2/nothing.xml")
        assert unknown.status_code == 404 and unknown.text.startswith("<?xml")
