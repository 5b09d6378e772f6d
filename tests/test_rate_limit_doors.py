"""One bucket per door: reads of a case, enterprise records and every write are limited, and
spending one door's budget never spends another's.

Through the real app, database and Temporal server; time is the limiter's own clock, which
the test does not move, so "a flood" is exactly the burst and one more.
"""

from __future__ import annotations

import httpx
import pytest

from api.rate_limit import (
    CASE_READ_BURST,
    ENTERPRISE_RECORD_BURST,
    OPEN311_BURST,
    WRITE_BURST,
    client_key,
    door_for,
)
from settings import Settings
from tests.security_support import Api, bearer, limited_api

__all__ = ["limited_api"]  # the module's "api" fixture, imported


@pytest.fixture(autouse=True)
def frozen(api: Api) -> None:
    """Every test starts with full buckets and a clock that does not move."""
    api.limiter.reset()
    api.limiter.clock = lambda: 1000.0


async def _statuses(client: httpx.AsyncClient, count: int, **request: object) -> list[int]:
    return [(await client.request(**request)).status_code for _ in range(count)]  # type: ignore[arg-type]


async def test_open311_reads_leave_an_anonymous_case_report_its_401(api: Api) -> None:
    """Forty anonymous Open311 reads used to empty the IP's one bucket: POST /cases got 429."""
    async with api.client_from("198.51.100.40") as client:
        reads = await _statuses(client, 40, method="GET", url="/open311/v2/services.json")
        assert reads.count(429) >= 40 - OPEN311_BURST  # the Open311 door is spent...
        report = await client.post("/cases", json={})
        assert report.status_code == 401, report.text  # ...the report door is not


async def test_reads_of_one_case_are_limited_per_reader(api: Api, settings: Settings) -> None:
    reader = bearer(settings, "supervisor", "poller")
    statuses = await _statuses(
        api.client, CASE_READ_BURST + 5, method="GET", url="/cases/GP-NOPE", headers=reader
    )
    assert statuses[:CASE_READ_BURST] == [404] * CASE_READ_BURST
    assert set(statuses[CASE_READ_BURST:]) == {429}
    other = bearer(settings, "supervisor", "calm-reader")
    assert (await api.client.get("/cases/GP-NOPE", headers=other)).status_code == 404


async def test_enterprise_record_writes_are_limited(api: Api, settings: Settings) -> None:
    owner = bearer(settings, "enterprise", "ET-RL-1")
    statuses = await _statuses(
        api.client,
        ENTERPRISE_RECORD_BURST + 3,
        method="POST",
        url="/enterprises/ET-RL-1/records",
        json={},
        headers=owner,
    )
    assert statuses[:ENTERPRISE_RECORD_BURST] == [422] * ENTERPRISE_RECORD_BURST
    assert set(statuses[ENTERPRISE_RECORD_BURST:]) == {429}


@pytest.mark.parametrize(
    "url",
    [
        "/supervisors/cases/GP-NOPE/urge",
        "/inspections",
        "/campaigns",
        "/rectifications/R-NOPE/cancel",
        "/inspections/I-NOPE/cancel",
    ],
)
async def test_every_other_write_door_is_limited(api: Api, settings: Settings, url: str) -> None:
    """A supervisor's script flooding actions gets 429 after the burst, not workflows."""
    supervisor = bearer(settings, "supervisor", "flood" + url.replace("/", "."))
    statuses = await _statuses(
        api.client, WRITE_BURST + 2, method="POST", url=url, json={}, headers=supervisor
    )
    assert 429 not in statuses[:WRITE_BURST], statuses
    assert set(statuses[WRITE_BURST:]) == {429}


def test_each_door_keys_its_own_buckets() -> None:
    scope = {"type": "http", "client": ("10.1.2.3", 5000), "headers": [], "query_string": b""}
    keys = {
        client_key({**scope, "method": method, "path": path})
        for method, path in [
            ("GET", "/open311/v2/services.json"),
            ("POST", "/cases"),
            ("GET", "/cases/GP-1"),
            ("POST", "/enterprises/E1/records"),
            ("POST", "/bot/callback"),
            ("POST", "/inspections"),
        ]
    }
    assert len(keys) == 6, keys
    assert all(not key.startswith("ip:") for key in keys)
    assert door_for("GET", "/cases") is None  # the supervisors' list is read by hand
