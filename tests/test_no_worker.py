"""Every route that queries or updates a workflow, with no worker polling its task queue.

The real Temporal test server holds a query or an update for a queue nobody polls until the
call times out; the API must then answer from the projection or with a 503 that names the
reason and carries ``Retry-After`` -- never a 500, a misleading 404, or a hang. The app here
starts its workflows on a queue no worker polls, and this module starts no worker.
Timeouts are shortened (``QUERY_TIMEOUT``/``UPDATE_TIMEOUT``) to keep the suite quick,
except in the campaign test, which runs with the production ones.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.cases.projection import ProjectionActivities
from api.errors import RETRY_AFTER_SECONDS
from constants import case_workflow_id
from schemas.cases.views import CaseSummary, ProjectionBatch, TimelineEntry
from services import temporal_gateway
from services.cases import operations as cases
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.platform.tokens import action_token
from settings import Settings
from tests.device_support import detection, device
from tests.inspection_support import add_enterprise
from tests.security_support import Api, bearer, running_app, signed
from tests.support import count_rows, grid_point

NO_WORKER_QUEUE = "gridplus-test-no-worker"
SHORT_QUERY = timedelta(seconds=1)
SHORT_UPDATE = timedelta(seconds=2)


@pytest.fixture(scope="module")
async def api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[Api]:
    lonely = settings.model_copy(update={"task_queue": NO_WORKER_QUEUE})
    # an unhandled error comes back as the 500 a client gets, for the tests to judge
    async with running_app(env, sessions, lonely, raise_app_exceptions=False) as running:
        running.limiter.enabled = False  # limits are not under test here
        yield running  # the workflows left running end with this module's test server


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(temporal_gateway, "QUERY_TIMEOUT", SHORT_QUERY)
    monkeypatch.setattr(temporal_gateway, "UPDATE_TIMEOUT", SHORT_UPDATE)


def assert_503(response: httpx.Response, *words: str) -> None:
    """The problem shape, ``Retry-After``, and a message naming the reason."""
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    body = response.json()
    assert set(body) == {"error", "message", "fields"}
    assert body["error"] == "unavailable"
    for word in words:
        assert word in body["message"], body["message"]


async def timed(call: Awaitable[httpx.Response], within: float) -> tuple[httpx.Response, float]:
    """The answer and how long it took; a hang fails the test instead of stalling it."""
    started = time.monotonic()
    response = await asyncio.wait_for(call, within)
    return response, time.monotonic() - started


async def report_case(api: Api, settings: Settings, grids: GridIndex) -> str:
    """A case filed over HTTP: it starts (that needs no worker), and nobody runs it."""
    at = grid_point(grids, "G031")
    body = {"case_type": "illegal_parking", "location": {"lat": at.lat, "lon": at.lon},
            "description": "无人处理"}  # fmt: skip
    reporter = bearer(settings, "steward", f"S-nw-{uuid.uuid4().hex[:6]}")
    created = await api.client.post("/cases", json=body, headers=reporter)
    assert created.status_code == 202, created.text
    case_id: str = created.json()["case_id"]
    return case_id


async def project(env: WorkflowEnvironment, sessions: SessionFactory, case_id: str) -> None:
    """Write what the worker's projection activity would have written for the filed case."""
    inp = await cases.original_input(env.client, case_id)
    entry = TimelineEntry(seq=1, kind="filed", status="filed", at=inp.reported_at,
                          actor=inp.reporter)  # fmt: skip
    summary = CaseSummary(
        case_id=case_id, case_type=inp.policy.case_type.code, status="filed", source=inp.source,
        priority=inp.policy.case_type.priority, grid_id=inp.grid_id,
        micro_grid_id=inp.micro_grid_id, department=inp.policy.department.code,
        handler="steward", steward_id=None, location=inp.location, description=inp.description,
        reported_at=inp.reported_at, deadline=None, waiting_for="a steward", overdue=False,
        rework_count=0, urge_count=0,
    )  # fmt: skip
    batch = ProjectionBatch(case=summary, entries=[entry])
    await ProjectionActivities(sessions).project_case_events(batch)


async def test_campaign_progress_without_a_worker_is_a_503_naming_the_reason(
    api: Api, settings: Settings
) -> None:
    """The reported bug: a 500 after the 5 s query timeout. Production timeouts here."""
    supervisor = bearer(settings, "supervisor", "center-nw")
    campaign_id = f"CA-NW-{uuid.uuid4().hex[:8]}"
    started = await api.client.post(
        "/campaigns", json={"campaign_id": campaign_id}, headers=supervisor
    )
    assert started.status_code == 202, started.text

    answer, took = await timed(api.client.get(f"/campaigns/{campaign_id}", headers=supervisor), 30)
    assert_503(answer, campaign_id, "no worker", f"/reports/inspections/rounds/{campaign_id}")
    assert took < temporal_gateway.QUERY_TIMEOUT.total_seconds() + 3

    unknown = await api.client.get("/campaigns/CA-NEVER-STARTED", headers=supervisor)
    assert unknown.status_code == 404


@pytest.mark.usefixtures("short_timeouts")
async def test_a_case_without_a_worker_reads_from_the_projection_or_is_a_503(
    api: Api, env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings,
    grids: GridIndex,
) -> None:  # fmt: skip
    case_id = await report_case(api, settings, grids)
    supervisor = bearer(settings, "supervisor", "center-nw")
    # running, not answering, nothing projected yet: it exists, so not a 404
    answer, took = await timed(api.client.get(f"/cases/{case_id}", headers=supervisor), 20)
    assert_503(answer, case_id, "no worker")
    assert took < SHORT_QUERY.total_seconds() + 3

    await project(env, sessions, case_id)
    answer = await api.client.get(f"/cases/{case_id}", headers=supervisor)
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert (view["status"], view["live"]) == ("filed", False)  # the projection, said so
    assert [entry["kind"] for entry in view["timeline"]] == ["filed"]


@pytest.mark.usefixtures("short_timeouts")
async def test_an_action_without_a_worker_is_a_503_not_a_hang(
    api: Api, settings: Settings, grids: GridIndex
) -> None:
    case_id = await report_case(api, settings, grids)
    supervisor = {**bearer(settings, "supervisor", "center-nw"), "Idempotency-Key": "nw-urge-1"}
    url = f"/supervisors/cases/{case_id}/urge"
    for _ in range(2):  # the client's retry with the same key: the same answer, no 500
        answer, took = await timed(
            api.client.post(url, json={"note": "请尽快处理"}, headers=supervisor), 30
        )
        assert_503(answer, case_id, "no worker", "update")
        assert took < SHORT_UPDATE.total_seconds() + 3
    # a case that does not exist is still a 404, at once
    missing = await api.client.post(
        "/supervisors/cases/GP-NOPE/urge", json={"note": "x"}, headers=supervisor
    )
    assert missing.status_code == 404


@pytest.mark.usefixtures("short_timeouts")
async def test_an_inspection_without_a_worker_is_a_503_to_read_and_to_act_on(
    api: Api, sessions: SessionFactory, settings: Settings, grids: GridIndex
) -> None:
    supervisor = bearer(settings, "supervisor", "center-nw")
    company = await add_enterprise(sessions, grids, "G077", industry="paper")
    started = await api.client.post(
        "/inspections", json={"enterprise_id": company}, headers=supervisor
    )
    assert started.status_code == 202, started.text
    inspection_id = started.json()["inspection_id"]
    read, _ = await timed(api.client.get(f"/inspections/{inspection_id}", headers=supervisor), 20)
    assert_503(read, inspection_id, "no worker")
    cancel, _ = await timed(
        api.client.post(f"/inspections/{inspection_id}/cancel", json={"reason": "停产"},
                        headers=supervisor),
        30,
    )  # fmt: skip
    assert_503(cancel, "no worker")


@pytest.mark.usefixtures("short_timeouts")
async def test_a_bot_callback_without_a_worker_is_a_503_and_nothing_is_stored(
    api: Api, sessions: SessionFactory, settings: Settings, grids: GridIndex
) -> None:
    case_id = await report_case(api, settings, grids)
    secret = settings.bot_secret.get_secret_value()
    steward = "S-nw-bot"
    request_id = f"rq-nw-{uuid.uuid4().hex}"
    body = json.dumps({
        "request_id": request_id, "steward_id": steward, "case_id": case_id, "attempt": 1,
        "action": "accept", "token": action_token(secret, case_id, steward, 1, "accept"),
    }).encode()  # fmt: skip
    for _ in range(2):  # the gateway retries with the same request id: 503 again, not a replay
        answer, took = await timed(
            api.client.post("/bot/callback", content=body, headers=signed(settings, body)), 30
        )
        assert_503(answer, case_id, "no worker")
        assert took < SHORT_UPDATE.total_seconds() + 3
    rows = "SELECT count(*) FROM bot_request WHERE request_id = :r"
    assert await count_rows(sessions, rows, r=request_id) == 0


@pytest.mark.usefixtures("short_timeouts")
async def test_a_cameras_first_detection_without_a_worker_opens_its_case_a_later_one_is_a_503(
    api: Api, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    """The scene's first detection starts its case, which needs no worker (as a report over
    ``POST /cases`` does): 202, recorded, the case waiting for a worker. A later detection
    of the running case is recorded for the flusher (202 ``merged``); with coalescing off
    it must reach the workflow itself: 503 with ``Retry-After``, nothing recorded, and the
    device's retry with the same event id counts once later."""
    camera = await device(sessions, grids, "G044")
    url = f"/devices/{camera.id}/detections"
    first = detection("illegal_parking", event_id=f"nw-{uuid.uuid4().hex[:12]}")
    answer, took = await timed(api.client.post(url, json=first, headers=camera.headers()), 30)
    assert answer.status_code == 202, answer.text
    assert answer.json()["outcome"] == "opened"
    case_id = answer.json()["case_id"]
    assert took < SHORT_UPDATE.total_seconds()  # not waiting for a worker
    assert await temporal_gateway.workflow_running(env.client, case_workflow_id(case_id))
    again = await api.client.post(url, json=first, headers=camera.headers())
    assert again.status_code == 202 and again.json()["case_id"] == case_id  # from the record

    later = detection("illegal_parking", event_id=f"nw-{uuid.uuid4().hex[:12]}")
    answer, took = await timed(api.client.post(url, json=later, headers=camera.headers()), 30)
    assert answer.status_code == 202, answer.text
    assert (answer.json()["outcome"], answer.json()["case_id"]) == ("merged", case_id)
    assert took < SHORT_UPDATE.total_seconds()
    pending = "SELECT count(*) FROM detection WHERE device_id = :d AND pending AND case_id = :c"
    assert await count_rows(sessions, pending, d=camera.id, c=case_id) == 1

    api.app.state.gridplus.devices.coalesce = False  # the per-detection path
    try:
        direct = detection("illegal_parking", event_id=f"nw-{uuid.uuid4().hex[:12]}")
        post = api.client.post(url, json=direct, headers=camera.headers())
        answer, took = await timed(post, 30)
    finally:
        api.app.state.gridplus.devices.coalesce = True
    assert_503(answer, "retry")
    assert took < SHORT_UPDATE.total_seconds() + 3
    rows = "SELECT count(*) FROM detection WHERE device_id = :d"
    assert await count_rows(sessions, rows, d=camera.id) == 2  # not the 503's: retry later
