"""Rate limits on the public intake doors, through the real app, database and Temporal server.

Time is the limiter's own clock, moved by the test: a ten-minute camera burst runs in
seconds, and "1000 requests in one second" means exactly that to the limiter.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from api.rate_limit import (
    CASE_REPORT_BURST,
    DEVICE_BURST,
    DEVICE_LIMIT,
    DEVICE_RATE_PER_SECOND,
    OPEN311_BURST,
    TokenBucketLimiter,
    client_key,
)
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import Dev, detection, device
from tests.security_support import Api, Clock, bearer, limited_api, token

__all__ = ["limited_api"]  # the module's "api" fixture, imported


@pytest.fixture
def clock(api: Api) -> Clock:
    fake = Clock()
    api.limiter.reset()
    api.limiter.clock = fake
    return fake


@pytest.fixture
async def camera(sessions: SessionFactory, grids: GridIndex) -> Dev:
    return await device(sessions, grids, "G012")


def _assert_429(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    problem = response.json()
    assert problem["error"] == "too_many_requests"
    assert set(problem) == {"error", "message", "fields"}
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


async def _flood(
    client: httpx.AsyncClient, clock: Clock, count: int, within: float, **request: object
) -> list[httpx.Response]:
    """``count`` requests spread evenly over ``within`` seconds of the limiter's time."""
    answers = []
    for _ in range(count):
        answers.append(await client.request(**request))  # type: ignore[arg-type]
        clock.now += within / count
    return answers


async def test_a_camera_burst_of_500_over_ten_minutes_all_passes(
    api: Api, clock: Clock, camera: Dev
) -> None:
    """25 bursts of 20 back-to-back detections, one every 24 s: every one is accepted."""
    start = datetime.now(UTC) - timedelta(minutes=10)
    statuses = []
    for burst in range(25):
        for shot in range(20):
            n = burst * 20 + shot
            body = detection("illegal_parking", at=start + timedelta(seconds=n * 1.2),
                             confidence=0.1, event_id=f"rl-burst-{n:04d}")  # fmt: skip
            answer = await api.client.post(
                f"/devices/{camera.id}/detections", json=body, headers=camera.headers()
            )
            statuses.append(answer.status_code)
        clock.now += 24.0
    assert statuses == [202] * 500


async def test_a_steady_stream_at_the_device_rate_never_waits(
    api: Api, clock: Clock, camera: Dev
) -> None:
    """A camera at its full rate (10/s) for a minute of limiter time: never a 429."""
    answers = await _flood(
        api.client, clock, int(60 * DEVICE_RATE_PER_SECOND), 60.0, method="POST",
        url=f"/devices/{camera.id}/detections", json={}, headers=camera.headers(),
    )  # fmt: skip
    assert {a.status_code for a in answers} == {422}  # counted, then refused for the body only


async def test_a_flood_from_one_device_gets_429_with_retry_after(
    api: Api, clock: Clock, camera: Dev
) -> None:
    answers = await _flood(
        api.client, clock, 1000, 1.0, method="POST",
        url=f"/devices/{camera.id}/detections", json={}, headers=camera.headers(),
    )  # fmt: skip
    passed = [a for a in answers if a.status_code != 429]
    assert DEVICE_BURST <= len(passed) <= DEVICE_BURST + DEVICE_RATE_PER_SECOND + 1
    assert {a.status_code for a in passed} == {422}
    waits = [_assert_429(a) for a in answers if a.status_code == 429]
    assert len(waits) >= 900
    assert max(waits) == 1  # the next token is a tenth of a second away

    clock.now += waits[-1]
    again = await api.client.post(
        f"/devices/{camera.id}/detections", json={}, headers=camera.headers()
    )
    assert again.status_code == 422  # a token again after Retry-After


async def test_one_flood_does_not_spend_anyone_elses_budget(
    api: Api, clock: Clock, camera: Dev, sessions: SessionFactory, grids: GridIndex
) -> None:
    other = await device(sessions, grids, "G013")
    door = f"/devices/{camera.id}/detections"
    # someone who knows the camera's id but not its key floods its door
    keyless = await _flood(api.client, clock, 300, 1.0, method="POST", url=door, json={})
    assert {a.status_code for a in keyless} == {401, 429}
    forged = {"X-Device-Key": "guessed-key"}
    await _flood(api.client, clock, 300, 1.0, method="POST", url=door, json={}, headers=forged)
    # the camera itself and another device still have their whole burst
    for dev in (camera, other):
        own = await _flood(
            api.client, clock, DEVICE_BURST, 0.0, method="POST",
            url=f"/devices/{dev.id}/detections", json={}, headers=dev.headers(),
        )  # fmt: skip
        assert {a.status_code for a in own} == {422}


async def test_open311_is_limited_per_api_key_or_client_ip(
    api: Api, clock: Clock, settings: Settings
) -> None:
    services = "/open311/v2/services.json"
    async with api.client_from("203.0.113.7") as flooder, api.client_from("203.0.113.8") as other:
        answers = await _flood(flooder, clock, 200, 1.0, method="GET", url=services)
        limited = [a for a in answers if a.status_code == 429]
        assert len(answers) - len(limited) <= OPEN311_BURST + 5
        assert len(limited) >= 150
        first = limited[0]
        # Open311 clients parse the GeoReport error document, so the 429 comes in that shape
        assert first.json()[0]["code"] == 429
        assert int(first.headers["Retry-After"]) >= 1
        xml = await flooder.get("/open311/v2/services.xml")
        assert xml.status_code == 429
        assert xml.headers["content-type"].startswith("text/xml")
        assert (await other.get(services)).status_code == 200  # another IP, its own budget
        # an app with an api_key counts on its key, even behind the flooding IP
        keyed = {"api_key": token(settings, "system", "citizen-app")}
        assert (await flooder.get(services, params=keyed)).status_code == 200
        # a made-up api_key is no way out of the IP's budget
        made_up = {"api_key": "gp1.bogus.key"}
        assert (await flooder.get(services, params=made_up)).status_code == 429


async def test_case_reports_are_limited_per_bearer_subject(
    api: Api, clock: Clock, settings: Settings
) -> None:
    flooder = bearer(settings, "steward", "S-flood")
    answers = await _flood(
        api.client, clock, 200, 1.0, method="POST", url="/cases", json={}, headers=flooder
    )
    passed = [a for a in answers if a.status_code != 429]
    assert CASE_REPORT_BURST <= len(passed) <= CASE_REPORT_BURST + 3
    assert {a.status_code for a in passed} == {422}
    assert len([_assert_429(a) for a in answers if a.status_code == 429]) >= 150
    calm = bearer(settings, "steward", "S-calm")
    assert (await api.client.post("/cases", json={}, headers=calm)).status_code == 422
    # reads are another door: the flood of reports spent none of the reader's budget
    reads = [await api.client.get("/cases/GP-NOPE", headers=flooder) for _ in range(20)]
    assert {r.status_code for r in reads} == {404}


async def test_the_openapi_schema_documents_429_where_limits_apply(api: Api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    # every write, every Open311 read, and the case reads that query a workflow
    limited = {
        *(
            (m, p)
            for p, ops in paths.items()
            for m in ops
            if m in ("post", "put", "patch", "delete")
        ),
        *(("get", p) for p in paths if p.startswith("/open311/")),
        ("get", "/cases/{case_id}"),
        ("get", "/cases/{case_id}/timeline"),
    }
    assert ("post", "/enterprises/{enterprise_id}/records") in limited
    for path, operations in paths.items():
        for method, operation in operations.items():
            documented = "429" in operation["responses"]
            assert documented == ((method, path) in limited), (method, path)
            if documented:
                assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_the_limiter_costs_microseconds_per_request() -> None:
    """The camera path pays a dict lookup and a hash: far below a millisecond."""
    limiter = TokenBucketLimiter()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/devices/CAM-1/detections",
        "headers": [(b"x-device-key", b"k" * 43)],
        "client": ("10.0.0.1", 5000),
    }
    rounds = 20_000
    started = time.perf_counter()
    for _ in range(rounds):
        limiter.take(client_key(scope), DEVICE_LIMIT)
    per_request = (time.perf_counter() - started) / rounds
    assert per_request < 100e-6, f"{per_request * 1e6:.1f} µs per request"


async def test_a_disabled_limiter_lets_a_flood_through(
    api: Api, clock: Clock, settings: Settings
) -> None:
    api.limiter.enabled = False
    try:
        flooder = bearer(settings, "steward", "S-unlimited")
        answers = await _flood(
            api.client, clock, 100, 0.0, method="POST", url="/cases", json={}, headers=flooder
        )
        assert {a.status_code for a in answers} == {422}
    finally:
        api.limiter.enabled = True


def test_the_limiter_forgets_the_least_recent_keys_beyond_its_cap() -> None:
    limiter = TokenBucketLimiter(clock=lambda: 0.0, max_keys=3)
    for key in "abcd":
        limiter.take(key, DEVICE_LIMIT)
    assert list(limiter._buckets) == ["b", "c", "d"]
