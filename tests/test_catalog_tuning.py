"""Issue 12 item 10: a town can shorten (or otherwise override) the catalog's limits.

An override file (``GRIDPLUS_CATALOG_OVERRIDE``), validated like the catalog, changes only
the fields it names; a time scale (``GRIDPLUS_CATALOG_TIME_SCALE``, devstack's
``--fast-clock``) divides every deadline. The end-to-end test files a case through the real
API built with a scale of 60 and watches the accept timer fire after 10 s instead of 10 min.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.security import issue_token
from constants import case_workflow_id
from schemas.cases.catalog import default_catalog, load_catalog
from schemas.cases.catalog_tuning import CatalogOverrideError, scale_limits, tune
from schemas.cases.views import CaseView
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings, get_settings
from tests.support import grid_point, place_stewards, track, wait_for

SHIPPED = load_catalog()


def _override(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "override.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_override_changes_only_the_fields_it_names(tmp_path: Path) -> None:
    path = _override(
        tmp_path,
        {
            "case_types": {"illegal_parking": {"sla": {"accept": "PT2M"}, "priority": 2}},
            "escalation": {"max_dispatch_attempts": 2},
        },
    )
    tuned = tune(SHIPPED, path, 1)
    parking, shipped = tuned.case_type("illegal_parking"), SHIPPED.case_type("illegal_parking")
    assert parking is not None and shipped is not None
    assert parking.sla.accept == timedelta(minutes=2) and parking.priority == 2
    assert parking.sla.resolve == shipped.sla.resolve and parking.skills == shipped.skills
    assert tuned.escalation.max_dispatch_attempts == 2
    assert tuned.case_type("garbage") == SHIPPED.case_type("garbage")
    assert tuned.version == f"{SHIPPED.version}+override"
    assert tuned.policy_for("illegal_parking").catalog_version == tuned.version


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"case_types": {"no_such_type": {"priority": 1}}}, "no such case type"),
        ({"case_types": {"garbage": {"colour": "red"}}}, "unknown field(s) colour"),
        ({"case_types": {"garbage": {"sla": {"accept": "PT0S"}}}}, "sla.accept must be positive"),
        ({"case_types": {"garbage": {"sla": {"wait": "PT1M"}}}}, "garbage.sla: unknown field"),
        ({"case_types": {"garbage": {"priority": 9}}}, "priority"),
        ({"escalation": {"max_dispatch_attempts": 0}}, "max_dispatch_attempts"),
        ({"departments": []}, "departments"),
    ],
)
def test_a_bad_override_fails_the_load_saying_where(
    tmp_path: Path, data: object, says: str
) -> None:
    with pytest.raises(CatalogOverrideError) as error:
        tune(SHIPPED, _override(tmp_path, data), 1)
    assert says in str(error.value)


def test_missing_or_broken_override_file_fails_the_load(tmp_path: Path) -> None:
    with pytest.raises(CatalogOverrideError, match="override"):
        tune(SHIPPED, tmp_path / "absent.json", 1)
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(CatalogOverrideError, match="override"):
        tune(SHIPPED, broken, 1)


def test_time_scale_divides_every_limit_within_bounds() -> None:
    fast = scale_limits(SHIPPED, 60)
    assert fast.version == f"{SHIPPED.version}+x60"
    for scaled, shipped in zip(fast.case_types, SHIPPED.case_types, strict=True):
        for name in ("accept", "resolve", "department", "verify"):
            limit = getattr(shipped.sla, name).total_seconds()
            assert getattr(scaled.sla, name) == timedelta(seconds=max(1, limit // 60))
    fire_lane = fast.case_type("fire_lane_blocked")
    assert fire_lane is not None and fire_lane.sla.accept == timedelta(seconds=5)
    slowest = scale_limits(SHIPPED, 1000).case_type("smoke_alarm")
    assert slowest is not None and slowest.sla.accept == timedelta(seconds=1)  # never below 1 s
    for bad in (0.5, 1001, float("nan")):
        with pytest.raises(CatalogOverrideError, match=r"within 1\.\.1000"):
            scale_limits(SHIPPED, bad)
    for bad in (0.5, 1001):
        with pytest.raises(ValidationError):
            Settings(catalog_time_scale=bad)


def test_the_process_catalog_follows_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _override(tmp_path, {"case_types": {"garbage": {"sla": {"verify": "PT2H"}}}})
    monkeypatch.setenv("GRIDPLUS_CATALOG_OVERRIDE", str(path))
    monkeypatch.setenv("GRIDPLUS_CATALOG_TIME_SCALE", "60")
    get_settings.cache_clear()
    try:
        garbage = default_catalog().case_type("garbage")
        assert garbage is not None and garbage.sla.verify == timedelta(minutes=2)
        assert default_catalog().version == f"{SHIPPED.version}+override+x60"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert default_catalog().version == SHIPPED.version


@pytest.fixture
async def fast_api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with a 60x clock, on the suite's Temporal server, worker and database."""
    fast = settings.model_copy(update={"catalog_time_scale": 60.0})
    app = create_app(fast, temporal=env.client, sessions=sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gridplus") as client:
            yield client


@pytest.mark.usefixtures("worker", "off_duty")
async def test_a_case_filed_on_a_fast_clock_times_out_in_seconds(
    fast_api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    at = grid_point(grids, "G061")
    await place_stewards(sessions, grids, at, 2)
    secret = settings.api_token_secret.get_secret_value()
    token = issue_token(secret, Actor(role="citizen", id="c-fast"))
    body = {"case_type": "illegal_parking", "location": at.model_dump()}
    filed = await fast_api.post("/cases", json=body, headers={"Authorization": f"Bearer {token}"})
    assert filed.status_code == 202, filed.text
    handle = env.client.get_workflow_handle(case_workflow_id(track(filed.json()["case_id"])))
    dispatched = await wait_for(handle, lambda v: v.status == "dispatched")
    offered_at = next(e.at for e in dispatched.timeline if e.kind == "dispatched")
    await env.sleep(timedelta(seconds=15))  # the shipped accept limit is 10 minutes; 10 s here
    moved: CaseView = await wait_for(
        handle, lambda v: any(e.kind == "accept_timeout" for e in v.timeline)
    )
    timed_out_at = next(e.at for e in moved.timeline if e.kind == "accept_timeout")
    assert timedelta(seconds=10) <= timed_out_at - offered_at < timedelta(seconds=20)
