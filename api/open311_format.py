"""Open311 answers in the spec's two formats: XML (required) and JSON (its Spark mapping).

XML is built with the standard library's ElementTree, never by pasting strings, so a
citizen's description can never break the document. Lists become a plural element with one
singular child per item (``<attributes><attribute>``), ``None`` an empty element, booleans
``true``/``false`` and date-times the w3 format in UTC (``2010-01-01T00:00:00Z``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Response
from starlette.types import Scope

Row = dict[str, Any]
FORMATS = ("xml", "json")
# Where GeoReport clients live: every answer under it is in their format (``api.edge``).
PREFIX = "/open311/"
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
SINGULAR = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
}


def w3(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return w3(value)
    return str(value)


def _fill(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(element, key, item)
    elif isinstance(value, list):
        for item in value:
            _fill(element, SINGULAR.get(name, "item"), item)
    else:
        element.text = _text(value)


def to_xml(root: str, payload: Row | Sequence[Row]) -> bytes:
    """``<root>`` holding the payload: a list of rows (one child each) or one row's fields."""
    top = ET.Element(root)
    if isinstance(payload, dict):
        for key, value in payload.items():
            _fill(top, key, value)
    else:
        for row in payload:
            _fill(top, SINGULAR[root], row)
    ET.indent(top)
    document: bytes = ET.tostring(top, encoding="utf-8", xml_declaration=True)
    return document


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return w3(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def render(fmt: str, root: str, payload: Row | Sequence[Row], status: int = 200) -> Response:
    """The answer in the requested format (JSON: the bare list or object, as the spec shows)."""
    if fmt == "json":
        body = json.dumps(_jsonable(payload), ensure_ascii=False).encode("utf-8")
        return Response(body, status_code=status, media_type=JSON_TYPE)
    return Response(to_xml(root, payload), status_code=status, media_type=XML_TYPE)


def render_errors(fmt: str, status: int, errors: Sequence[tuple[int, str]]) -> Response:
    """``[{"code", "description"}]`` or ``<errors><error>``; XML unless JSON was asked for."""
    rows = [{"code": code, "description": description} for code, description in errors]
    return render("json" if fmt == "json" else "xml", "errors", rows, status)


def edge_answer(scope: Scope, status: int, _error: str, message: str) -> Response:
    """A refusal outside the routes (body cap, rate limit, 404/405) as GeoReport ``errors``,
    JSON when the path asks for it: Open311 clients parse nothing else."""
    fmt = "json" if scope.get("path", "").endswith(".json") else "xml"
    return render_errors(fmt, status, [(status, message)])
