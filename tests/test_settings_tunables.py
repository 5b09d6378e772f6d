"""Operator tunables of the intake doors are settings: they change behaviour, and bad values
stop the process at start-up instead of misbehaving later.

The limiter runs in the real app (``create_app`` with the test server and database); the
merge window on the real ``intake_merge`` table.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from api import rate_limit
from api.routers.devices import intake
from services.intake.merge import MERGE_WINDOW, MergeRegistry, camera_key
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import device
from tests.security_support import Api, bearer, running_app
from tests.support import grid_point


@asynccontextmanager
async def app_with(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, **changes: object
) -> AsyncIterator[Api]:
    """The app built from settings with ``changes``, validated as the environment would be."""
    tuned = Settings.model_validate({**settings.model_dump(), **changes})
    async with running_app(env, sessions, tuned) as api:
        yield api


async def test_a_case_report_burst_of_two_refuses_the_third(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> None:
    async with app_with(env, sessions, settings, case_report_burst=2,
                        case_report_rate_per_second=0.5) as api:  # fmt: skip
        assert api.limiter.limits.case_report == rate_limit.Limit(0.5, 2)
        headers = bearer(settings, "steward", f"S-burst2-{uuid.uuid4().hex[:6]}")
        answers = [await api.client.post("/cases", json={}, headers=headers) for _ in range(3)]
        assert [a.status_code for a in answers] == [422, 422, 429]
        assert int(answers[2].headers["Retry-After"]) == 2  # one token every 2 s


async def test_a_device_burst_of_one_and_the_key_cap_come_from_settings(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, grids: GridIndex
) -> None:
    camera = await device(sessions, grids, "G015")
    async with app_with(env, sessions, settings, device_burst=1, device_rate_per_second=0.25,
                        rate_limit_max_keys=7) as api:  # fmt: skip
        assert api.limiter.max_keys == 7
        url = f"/devices/{camera.id}/detections"
        first = await api.client.post(url, json={}, headers=camera.headers())
        second = await api.client.post(url, json={}, headers=camera.headers())
        assert (first.status_code, second.status_code) == (422, 429)
        assert int(second.headers["Retry-After"]) == 4
        # Open311 keeps its own (default) budget
        assert api.limiter.limits.open311 == rate_limit.OPEN311_LIMIT


async def test_rate_limits_switched_off_by_setting_let_a_flood_through(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> None:
    async with app_with(env, sessions, settings, rate_limit_enabled=False,
                        case_report_burst=1) as api:  # fmt: skip
        headers = bearer(settings, "steward", f"S-off-{uuid.uuid4().hex[:6]}")
        answers = [await api.client.post("/cases", json={}, headers=headers) for _ in range(40)]
        assert {a.status_code for a in answers} == {422}


def test_defaults_are_unchanged() -> None:
    limiter = rate_limit.TokenBucketLimiter()
    defaults = Settings.model_validate({})  # the defaults, whatever the environment says
    built = rate_limit.Limits.from_settings(defaults)
    assert built == limiter.limits == rate_limit.DEFAULT_LIMITS
    assert (built.device, built.open311, built.case_report) == (
        rate_limit.Limit(10.0, 50),
        rate_limit.Limit(5.0, 30),
        rate_limit.Limit(2.0, 30),
    )
    assert defaults.rate_limit_enabled is True
    assert defaults.rate_limit_max_keys == rate_limit.MAX_TRACKED_KEYS == 100_000
    assert defaults.intake_merge_window == MERGE_WINDOW == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GRIDPLUS_DEVICE_RATE_PER_SECOND", "0"),
        ("GRIDPLUS_DEVICE_BURST", "0"),
        ("GRIDPLUS_OPEN311_RATE_PER_SECOND", "-5"),
        ("GRIDPLUS_OPEN311_BURST", "1.5"),
        ("GRIDPLUS_CASE_REPORT_RATE_PER_SECOND", "nan"),
        ("GRIDPLUS_CASE_REPORT_RATE_PER_SECOND", "inf"),
        ("GRIDPLUS_CASE_REPORT_BURST", "-1"),
        ("GRIDPLUS_RATE_LIMIT_MAX_KEYS", "0"),
        ("GRIDPLUS_CASE_READ_BURST", "0"),
        ("GRIDPLUS_WRITE_RATE_PER_SECOND", "0"),
        ("GRIDPLUS_MAX_BODY_BYTES", "0"),
        ("GRIDPLUS_BODY_TIMEOUT_SECONDS", "inf"),
        ("GRIDPLUS_RATE_LIMIT_ENABLED", "maybe"),
        ("GRIDPLUS_INTAKE_MERGE_WINDOW", "10"),  # seconds: shorter than a minute
        ("GRIDPLUS_INTAKE_MERGE_WINDOW", "P2D"),
    ],
)
def test_bad_values_stop_the_process_at_start_up(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    field = variable.removeprefix("GRIDPLUS_").lower()
    assert field in str(error.value)


def test_good_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in {
        "GRIDPLUS_RATE_LIMIT_ENABLED": "false",
        "GRIDPLUS_DEVICE_RATE_PER_SECOND": "2.5",
        "GRIDPLUS_DEVICE_BURST": "5",
        "GRIDPLUS_OPEN311_RATE_PER_SECOND": "1",
        "GRIDPLUS_OPEN311_BURST": "1",
        "GRIDPLUS_CASE_REPORT_RATE_PER_SECOND": "0.1",
        "GRIDPLUS_CASE_REPORT_BURST": "3",
        "GRIDPLUS_RATE_LIMIT_MAX_KEYS": "500",
        "GRIDPLUS_WRITE_BURST": "7",
        "GRIDPLUS_MAX_BODY_BYTES": "2048",
        "GRIDPLUS_INTAKE_MERGE_WINDOW": "1800",
    }.items():
        monkeypatch.setenv(variable, value)
    read = Settings()
    assert read.rate_limit_enabled is False
    limits = rate_limit.Limits.from_settings(read)
    assert (limits.device, limits.open311, limits.case_report) == (
        rate_limit.Limit(2.5, 5),
        rate_limit.Limit(1.0, 1),
        rate_limit.Limit(0.1, 3),
    )
    assert limits.write == rate_limit.Limit(read.write_rate_per_second, 7)
    assert read.max_body_bytes == 2048
    assert read.rate_limit_max_keys == 500
    assert read.intake_merge_window == timedelta(minutes=30)
    monkeypatch.setenv("GRIDPLUS_INTAKE_MERGE_WINDOW", "PT2M")
    assert Settings().intake_merge_window == timedelta(minutes=2)


async def test_the_merge_window_setting_decides_when_a_burst_becomes_a_new_case(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, grids: GridIndex
) -> None:
    async with app_with(env, sessions, settings, intake_merge_window=timedelta(minutes=2)) as api:
        state = api.app.state.gridplus
        assert intake(state).merge_window == timedelta(minutes=2)  # what the device routes use
    mount = grid_point(grids, "G016")
    start = datetime.now(UTC) - timedelta(hours=1)
    for window, same_case in ((MERGE_WINDOW, True), (timedelta(minutes=2), False)):
        key = camera_key(f"TCAM-mw-{uuid.uuid4().hex[:8]}", "illegal_parking", mount, mount, None)
        registry = MergeRegistry(sessions, window)
        first = await registry.current(key, start, "report-1")
        later = await registry.current(key, start + timedelta(minutes=5), "report-2")
        # five minutes apart: one case under the default window, two under a 2-minute one
        assert (later.generation == first.generation) is same_case
