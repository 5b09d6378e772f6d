"""Inputs that must be refused at the edge, naming the field.

* Date-times out of range (year 1 or 9999, or pushed out of range by their offset) used to
  raise ``OverflowError`` deep in a handler: a 500, with no token needed on Open311.
* NUL and other C0 controls used to pass into cases (202) that PostgreSQL then refused to
  project, forever; now every text input refuses them with a 422 (400 on Open311).
* On SQLite a date filter written with an offset compared wall times: every instant is now
  normalised to UTC before it reaches a query.

The app is the real one on the suite's database and Temporal server, answering a 500 as a
client would see it (``raise_app_exceptions=False``) so that the old behaviour fails here.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from schemas.cases.tables import CaseRecord
from services.platform.db import SessionFactory
from settings import Settings
from tests.security_support import Api, bearer, signed, token, unlimited_api_answering

__all__ = ["unlimited_api_answering"]  # the module's "api" fixture, imported

V2 = "/open311/v2"
POINT = {"lat": 30.745, "lon": 120.487}  # inside the demo town's grids


def _open311_errors(response: Any, fmt: str) -> str:
    """The descriptions of a GeoReport error answer, as one string."""
    if fmt == "json":
        return " ".join(row["description"] for row in response.json())
    assert response.headers["content-type"].startswith("text/xml"), response.text
    return str(response.text)


# ---- item 2: extreme date-times --------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("start_date", "9999-12-31T00:00:00Z"),
        ("end_date", "0001-01-01T00:00:00Z"),
        ("start_date", "0001-01-01T00:00:00+14:00"),
    ],
)
async def test_open311_extreme_dates_are_a_400_naming_the_parameter(
    api: Api, fmt: str, name: str, value: str
) -> None:
    response = await api.client.get(f"{V2}/requests.{fmt}", params={name: value})
    assert response.status_code == 400, response.text[:300]
    assert name in _open311_errors(response, fmt)


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/stats/evaluation", {"to": "0001-01-10T00:00:00Z"}, "query.to"),
        ("/stats/evaluation", {"from": "9999-12-31T00:00:00Z"}, "query.from"),
        ("/cases", {"reported_from": "9999-12-31T23:00:00-12:00"}, "query.reported_from"),
        ("/cases", {"reported_to": "0001-01-01T00:00:00+14:00"}, "query.reported_to"),
    ],
)
async def test_extreme_dates_in_queries_are_a_422_naming_the_parameter(
    api: Api, settings: Settings, url: str, params: dict[str, str], field: str
) -> None:
    response = await api.client.get(url, params=params, headers=bearer(settings, "supervisor", "c"))
    assert response.status_code == 422, response.text[:300]
    assert response.json()["fields"] == [field]


@pytest.mark.parametrize(
    "started_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:00:00Z"]
)
async def test_extreme_dates_in_bodies_are_a_422_naming_the_field(
    api: Api, settings: Settings, started_at: str
) -> None:
    record = {"kind": "hot_work", "started_at": started_at}
    owner = bearer(settings, "enterprise", "ET-EDGE-1")
    response = await api.client.post("/enterprises/ET-EDGE-1/records", json=record, headers=owner)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["fields"] == ["body.started_at"]


# ---- item 3: control characters --------------------------------------------------------
def _case(**extra: Any) -> dict[str, Any]:
    return {"case_type": "illegal_parking", "location": POINT, **extra}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_case(description="占用\u0000消防通道"), "body.description"),
        (_case(address="1 Main St\u001b[31m"), "body.address"),
        (_case(description="x", address="line\nbreak"), "body.address"),
        (_case(evidence=[{"kind": "note", "note": "\u0007bell"}]), "body.evidence.0.note"),
        (_case(evidence=[{"kind": "photo", "url": "https://x/\u0000"}]), "body.evidence.0.url"),
    ],
)
async def test_control_characters_in_a_report_are_a_422_naming_the_field(
    api: Api, settings: Settings, body: dict[str, Any], field: str
) -> None:
    headers = {**bearer(settings, "steward", "S-edge"), "Idempotency-Key": uuid.uuid4().hex}
    response = await api.client.post("/cases", json=body, headers=headers)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["fields"] == [field]


async def test_tabs_and_line_breaks_in_free_text_are_kept(api: Api, settings: Settings) -> None:
    headers = {**bearer(settings, "steward", "S-edge"), "Idempotency-Key": uuid.uuid4().hex}
    body = _case(description="第一行\n第二行\tand a tab\r\n")
    response = await api.client.post("/cases", json=body, headers=headers)
    assert response.status_code == 202, response.text[:300]


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/cases", {"grid_id": "G001\u0000"}, "query.grid_id"),
        ("/inspections", {"enterprise_id": "E\u0000"}, "query.enterprise_id"),
        ("/inspections/I-%00", {}, "path.inspection_id"),
        ("/rectifications/R-%00", {}, "path.rectification_id"),
    ],
)
async def test_control_characters_in_queries_and_paths_are_a_422(
    api: Api, settings: Settings, url: str, params: dict[str, str], field: str
) -> None:
    headers = bearer(settings, "supervisor", "center-edge")
    response = await api.client.get(url, params=params, headers=headers)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["fields"] == [field]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_open311_refuses_control_characters_naming_the_field(
    api: Api, settings: Settings, fmt: str
) -> None:
    form = {
        "api_key": token(settings, "system", "edge-app"),
        "service_code": "illegal_parking",
        "lat": str(POINT["lat"]),
        "long": str(POINT["lon"]),
        "description": "broken\u0000lamp",
    }
    response = await api.client.post(f"{V2}/requests.{fmt}", data=form)
    assert response.status_code == 400, response.text[:300]
    assert "description" in _open311_errors(response, fmt)
    read = await api.client.get(f"{V2}/requests.{fmt}", params={"service_code": "a\u0000"})
    assert read.status_code == 400, read.text[:300]
    assert "service_code" in _open311_errors(read, fmt)


async def test_bot_callbacks_refuse_control_characters_naming_the_field(
    api: Api, settings: Settings
) -> None:
    press = {
        "request_id": "edge-req-1",
        "steward_id": "S0001",
        "case_id": "GP-EDGE",
        "attempt": 0,
        "action": "resolved",
        "token": "abcdefgh12345678",
        "note": "fixed\u0000",
    }
    body = json.dumps(press).encode()
    response = await api.client.post("/bot/callback", content=body, headers=signed(settings, body))
    assert response.status_code == 422, response.text[:300]
    assert response.json()["fields"] == ["body.note"]


# ---- item 4: offsets on SQLite ---------------------------------------------------------
async def test_a_date_filter_finds_the_same_cases_whatever_its_offset(
    api: Api, sessions: SessionFactory, settings: Settings
) -> None:
    case_type = f"tz_probe_{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    async with sessions() as session:
        for n in range(3):
            session.add(
                CaseRecord(
                    case_id=f"GP-TZ-{case_type}-{n}",
                    case_type=case_type,
                    status="filed",
                    source="steward",
                    priority=3,
                    grid_id="G001",
                    department="urban",
                    handler="steward",
                    lat=POINT["lat"],
                    lon=POINT["lon"],
                    reported_at=now - timedelta(seconds=30 + n),
                )
            )
        await session.commit()
    since = now - timedelta(minutes=2)
    headers = bearer(settings, "supervisor", "center-tz")
    found = {}
    for zone in (UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))):
        params = {"case_type": case_type, "reported_from": since.astimezone(zone).isoformat()}
        response = await api.client.get("/cases", params=params, headers=headers)
        assert response.status_code == 200, response.text[:300]
        found[str(zone)] = response.json()["total"]
    assert set(found.values()) == {3}, found


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"campaign_id": "r" * 37}, "body.campaign_id"),
        ({"campaign_id": "edge-window", "target_window": "P100000D"}, "body.target_window"),
    ],
)
async def test_a_round_that_its_workflow_could_not_run_is_refused(
    api: Api, settings: Settings, body: dict[str, Any], field: str
) -> None:
    """Found by Schemathesis: a 64-character round id made inspection ids over 64 characters
    (every workflow task of the round failed), and a huge window overflowed its deadline."""
    headers = bearer(settings, "supervisor", "center-rounds")
    response = await api.client.post("/campaigns", json=body, headers=headers)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["fields"] == [field]


async def test_a_roster_csv_without_its_header_is_refused(api: Api, settings: Settings) -> None:
    """Found by Schemathesis: any text posted as CSV imported as an empty roster (200)."""
    headers = {**bearer(settings, "supervisor", "center-roster"), "content-type": "text/csv"}
    response = await api.client.post("/stewards/import", content=b'[{"x": 1}]', headers=headers)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["fields"] == ["rows[0].header"]
    assert "grid_id" in response.json()["message"]
