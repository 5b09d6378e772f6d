"""Open311 GeoReport v2 client sessions, written from the spec's own examples.

The spec's example POST (http://wiki.open311.org/GeoReport_v2#POST_Service_Request) is sent
as it stands except for what must be ours: the jurisdiction, a service code of our catalog,
a point inside the town, and a real api_key (the example's ``xyz`` is shown to be refused).
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from api.security import issue_token
from schemas.platform.common import Actor
from services.intake import open311
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import count_rows, grid_point, track

pytestmark = pytest.mark.usefixtures("worker", "off_duty")

V2 = "/open311/v2"
# The spec's example request body, verbatim.
SPEC_EXAMPLE = (
    "api_key=xyz&jurisdiction_id=city.gov&service_code=001&lat=37.76524078&long=-122.4212043"
    "&address_string=1234+5th+street&email=smit333%40sfgov.edu&device_id=tt222111"
    "&account_id=123456&first_name=john&last_name=smith&phone=111111111"
    "&description=A+large+sinkhole+is+destroying+the+street"
    "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
    "&attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001"
)
SPEC_END = "2010-06-24T00:00:00Z"  # the spec's sample end_date
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords",
                  "group"]  # fmt: skip
REQUEST_FIELDS = [
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long",
    "media_url",
]  # fmt: skip


def api_key(settings: Settings, role: str = "system", subject: str = "fixmystreet") -> str:
    secret = settings.api_token_secret.get_secret_value()
    return issue_token(secret, Actor(role=role, id=subject))


def example(settings: Settings, grids: GridIndex, **changes: str | None) -> str:
    """The spec's example, made ours; ``changes`` replace (or with None drop) parameters."""
    at = grid_point(grids, "G055")
    ours = {
        "api_key": api_key(settings),
        "jurisdiction_id": open311.JURISDICTION_ID,
        "service_code": "garbage",
        "lat": str(at.lat),
        "long": str(at.lon),
        "attribute[WHISPAWN]": None,
        "attribute[WHISDORN]": None,
        **changes,
    }
    pairs = [pair.split("=", 1) for pair in SPEC_EXAMPLE.split("&")]
    kept = [(k, v) for k, v in pairs if k not in ours]
    body = "&".join(f"{k}={v}" for k, v in kept)
    extra = urlencode({k: v for k, v in ours.items() if v is not None})
    return f"{body}&{extra}" if extra else body


def xml_rows(response: httpx.Response, root: str, item: str) -> list[dict[str, str | None]]:
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    document = ET.fromstring(response.content)
    assert document.tag == root
    assert all(child.tag == item for child in document)
    return [{field.tag: field.text for field in child} for child in document]


def ids(response: httpx.Response) -> set[str]:
    return {row["service_request_id"] for row in response.json()}


async def open311_rows(sessions: SessionFactory) -> int:
    return await count_rows(sessions, "SELECT count(*) FROM open311_request")


async def test_json_session_services_create_get_list_and_a_cancelled_duplicate(
    api: httpx.AsyncClient, settings: Settings, grids: GridIndex, sessions: SessionFactory
) -> None:
    services = await api.get(
        f"{V2}/services.json", params={"jurisdiction_id": open311.JURISDICTION_ID}
    )
    assert services.status_code == 200
    assert services.headers["content-type"] == "application/json; charset=utf-8"
    listed = {s["service_code"]: s for s in services.json()}
    assert list(listed["garbage"]) == SERVICE_FIELDS
    assert listed["garbage"]["metadata"] is False
    assert listed["garbage"]["type"] == "realtime"
    assert listed["red_light_running"]["group"] == "Traffic police"

    definition = await api.get(f"{V2}/services/garbage.json")
    assert definition.json() == {"service_code": "garbage", "attributes": []}

    created = await api.post(f"{V2}/requests.json", content=example(settings, grids), headers=FORM)
    assert created.status_code == 200, created.text
    [answer] = created.json()
    assert list(answer) == ["service_request_id", "service_notice", "account_id"]
    assert answer["account_id"] == "123456"
    first = track(answer["service_request_id"])
    second_body = example(settings, grids, description="Overflowing bins at the bridge")
    second = track(
        (await api.post(f"{V2}/requests.json", content=second_body, headers=FORM)).json()[0][
            "service_request_id"
        ]
    )

    [got] = (await api.get(f"{V2}/requests/{first}.json")).json()
    assert list(got) == REQUEST_FIELDS
    assert got["status"] == "open"
    assert got["service_code"] == "garbage"
    assert got["description"] == "A large sinkhole is destroying the street"
    assert got["address"] == "1234 5th street"
    assert got["media_url"] == "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg"
    assert got["agency_responsible"] == "Urban management"
    assert got["requested_datetime"].endswith("Z")
    assert "email" not in got and "phone" not in got  # the citizen's details stay private

    today = datetime.now(UTC)
    window = {
        "start_date": (today - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": (today + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    mine = await api.get(
        f"{V2}/requests.json", params={**window, "service_code": "garbage", "status": "open"}
    )
    assert {first, second} <= ids(mine)
    assert {first, second}.isdisjoint(
        ids(await api.get(f"{V2}/requests.json", params={**window, "service_code": "pollution"}))
    )
    both = await api.get(
        f"{V2}/requests.json",
        params={"service_request_id": f"{first},{second}", "status": "closed"},
    )
    assert ids(both) == {first, second}  # service_request_id overrides every other filter

    supervisor = {"Authorization": f"Bearer {api_key(settings, 'supervisor', 'wang')}"}
    cancelled = await api.post(
        f"/supervisors/cases/{second}/cancel",
        json={"reason": "Duplicate request."},
        headers=supervisor,
    )
    assert cancelled.status_code == 200, cancelled.text
    for _ in range(200):
        [row] = (await api.get(f"{V2}/requests/{second}.json")).json()
        if row["status"] == "closed":
            break
        await asyncio.sleep(0.05)
    assert (row["status"], row["status_notes"]) == ("closed", "Duplicate request.")
    closed = await api.get(f"{V2}/requests.json", params={**window, "status": "closed"})
    assert second in ids(closed) and first not in ids(closed)
    assert first in ids(await api.get(f"{V2}/requests.json"))  # default: the last 90 days


async def test_xml_session_with_tokens(
    api: httpx.AsyncClient, settings: Settings, grids: GridIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(open311, "SERVICE_TYPE", "batch")  # the jurisdiction answers with tokens
    services = xml_rows(await api.get(f"{V2}/services.xml"), "services", "service")
    garbage = next(s for s in services if s["service_code"] == "garbage")
    assert list(garbage) == SERVICE_FIELDS
    assert (garbage["metadata"], garbage["type"]) == ("false", "batch")

    definition = ET.fromstring((await api.get(f"{V2}/services/garbage.xml")).content)
    assert definition.tag == "service_definition"
    assert [child.tag for child in definition] == ["service_code", "attributes"]
    assert (
        definition.findtext("service_code") == "garbage"
        and len(definition.find("attributes") or []) == 0
    )

    created = await api.post(f"{V2}/requests.xml", content=example(settings, grids), headers=FORM)
    assert created.status_code == 200, created.text
    [answer] = xml_rows(created, "service_requests", "request")
    assert list(answer) == ["token", "service_notice", "account_id"]  # a token, not the id

    resolved = await api.get(f"{V2}/tokens/{answer['token']}.xml")
    [pair] = xml_rows(resolved, "service_requests", "request")
    assert list(pair) == ["service_request_id", "token"] and pair["token"] == answer["token"]
    request_id = track(str(pair["service_request_id"]))

    [got] = xml_rows(
        await api.get(f"{V2}/requests/{request_id}.xml"), "service_requests", "request"
    )
    assert list(got) == REQUEST_FIELDS
    assert (got["status"], got["address"], got["address_id"]) == ("open", "1234 5th street", None)
    listed = xml_rows(
        await api.get(f"{V2}/requests.xml", params={"service_request_id": request_id}),
        "service_requests",
        "request",
    )
    assert [row["service_request_id"] for row in listed] == [request_id]

    lamp = grid_point(grids, "G056")
    body = {"api_key": api_key(settings), "service_code": "street_lamp", "lat": lamp.lat,
            "long": lamp.lon, "description": "灯不亮"}  # fmt: skip
    as_json = await api.post(f"{V2}/requests.json", json=body)
    assert as_json.status_code == 200, as_json.text
    token = as_json.json()[0]["token"]
    track((await api.get(f"{V2}/tokens/{token}.json")).json()[0]["service_request_id"])


def bad_posts(settings: Settings, grids: GridIndex) -> list[tuple[str, str, int, str]]:
    def ex(**changes: str | None) -> str:
        return example(settings, grids, **changes)

    steward = api_key(settings, "steward", "S0001")
    spec_place = {"lat": "37.76524078", "long": "-122.4212043"}
    return [
        ("no api_key", ex(api_key=None), 403, "Missing api_key"),
        ("the spec's example key", ex(api_key="xyz"), 403, "Invalid api_key"),
        ("a steward's token", ex(api_key=steward), 403, "Invalid api_key"),
        ("another jurisdiction", ex(jurisdiction_id="city.gov"), 404, "jurisdiction_id"),
        ("the spec's service code", ex(service_code="001"), 404, "service_code"),
        ("no service code", ex(service_code=None), 400, "service_code"),
        ("attributes", ex(**{"attribute[WHISPAWN]": "123456"}), 400, "attribute[WHISPAWN]"),
        ("address only", ex(lat=None, long=None), 400, "lat/long"),
        ("the spec's San Francisco", ex(**spec_place), 400, "outside every grid"),
        ("lat not a number", ex(lat="north"), 400, "lat"),
        ("impossible latitude", ex(lat="200"), 400, "lat"),
        ("unknown parameter", ex(priority="1"), 400, "priority: unknown"),
        ("bad media_url", ex(media_url="javascript:alert(1)"), 400, "media_url"),
        ("bad email", ex(email="not-an-email"), 400, "email"),
        ("oversized", ex(description="x" * 70_000), 413, "over"),
    ]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_errors_in_the_spec_format_and_no_case(
    api: httpx.AsyncClient, settings: Settings, grids: GridIndex, sessions: SessionFactory, fmt: str
) -> None:
    before = await open311_rows(sessions)
    for name, body, status, text in bad_posts(settings, grids):
        response = await api.post(f"{V2}/requests.{fmt}", content=body, headers=FORM)
        assert response.status_code == status, f"{name}: {response.text}"
        errors = error_list(response, fmt)
        assert errors and text in errors[0]["description"], f"{name}: {errors}"
        assert all(str(e["code"]).isdigit() for e in errors)
    assert await open311_rows(sessions) == before

    gets: list[tuple[str, dict[str, Any], int]] = [
        (f"requests/GP-NOPE.{fmt}", {}, 404),
        (f"tokens/nope.{fmt}", {}, 404),
        (f"services/ufo.{fmt}", {}, 404),
        (f"services.{fmt}", {"jurisdiction_id": "city.gov"}, 404),
        (f"requests.{fmt}", {"start_date": "2010-05-24T00:00:00"}, 400),  # no time zone
        (f"requests.{fmt}", {"start_date": "2010-01-01T00:00:00Z", "end_date": SPEC_END}, 400),
        (f"requests.{fmt}", {"status": "pending"}, 400),
        (f"requests.{fmt}", {"page": "2"}, 400),
    ]  # fmt: skip
    for path, params, status in gets:
        response = await api.get(f"{V2}/{path}", params=params)
        assert response.status_code == status, f"{path} {params}: {response.text}"
        assert error_list(response, fmt)
    csv = await api.get(f"{V2}/services.csv")
    assert csv.status_code == 400 and error_list(csv, "xml")


def error_list(response: httpx.Response, fmt: str) -> list[dict[str, Any]]:
    if fmt == "json":
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        body: list[dict[str, Any]] = response.json()
        assert all(list(e) == ["code", "description"] for e in body)
        return body
    return xml_rows(response, "errors", "error")
