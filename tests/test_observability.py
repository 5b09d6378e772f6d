"""JSON logs name the case on every line: from Temporal's logger extras, or from the API's
request context; the metrics middleware labels by route template, not by raw path."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from api.metrics import install
from services.platform.observability import CASE_ID, CaseContextFilter, JsonFormatter, case_id_of


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CaseContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gridplus.test.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_case_id_from_temporal_extras_and_from_the_context(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    # what temporalio's activity.logger attaches to every record
    details = {"workflow_id": "case-GP-0123ABCD", "activity_type": "notify_steward"}
    logger.warning("gateway said %s", "busy", extra={"temporal_activity": details})
    token = CASE_ID.set("GP-FROMAPI")
    try:
        logger.info("plain line", extra={"attempt": 2})
    finally:
        CASE_ID.reset(token)
    logger.info("no case here")
    first, second, third = lines(stream)
    assert first["case_id"] == "GP-0123ABCD"
    assert first["message"] == "gateway said busy"
    assert first["workflow_id"] == "case-GP-0123ABCD"
    assert first["activity_type"] == "notify_steward"
    assert first["level"] == "WARNING"
    assert second["case_id"] == "GP-FROMAPI" and second["attempt"] == 2
    assert third["case_id"] is None
    assert case_id_of("inspection-7") is None


async def test_middleware_labels_by_template_and_names_the_case_in_logs(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    app = FastAPI()
    install(app)

    @app.get("/probe/cases/{case_id}")
    async def probe(case_id: str) -> dict[str, str]:
        logger.info("looking at the case")
        return {"case_id": case_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/probe/cases/GP-42")).status_code == 200
        assert (await client.get("/probe/cases/GP-43")).status_code == 200
        assert (await client.get("/nowhere/at/all")).status_code == 404
        exposition = (await client.get("/metrics")).text
    assert [line["case_id"] for line in lines(stream)] == ["GP-42", "GP-43"]
    labels = {"method": "GET", "route": "/probe/cases/{case_id}", "status": "200"}
    assert REGISTRY.get_sample_value("gridplus_http_requests_total", labels) == 2
    assert 'route="unmatched",status="404"' in exposition
    assert "GP-42" not in exposition
