"""A suspended case on the web case page (zh by default): its status and the suspension's
entries in the town's words, from the Babel catalogues; wall-clock cases can be suspended too."""

from __future__ import annotations

import re

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from schemas.cases.suspension import SuspensionDecision, SuspensionRequest
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.support import SUPERVISOR, case_input, grid_point, key, open_case, wait_for
from tests.web_support import app, browser, new_account, sign_in

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
__all__ = ["app"]  # a fixture, imported
ROWS = re.compile(r'<tr data-kind="([a-z_]+)">')


async def test_the_case_page_shows_a_suspended_case(
    app: httpx.ASGITransport,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    inp = case_input(grids, "red_light_running", grid_point(grids, "G021"), "闯红灯 缓办")
    handle = await open_case(env.client, inp)
    await wait_for(handle, lambda v: v.status == "escalated")
    police = Actor(role="department", id="traffic_police")
    await handle.execute_update(
        "request_suspension",
        SuspensionRequest(
            actor=police,
            idempotency_key=key(),
            reason_code="legal_procedure",
            reason="行政复议中",
            resume_condition="复议决定后",
        ),
    )
    await handle.execute_update(
        "decide_suspension",
        SuspensionDecision(actor=SUPERVISOR, idempotency_key=key(), approve=True),
    )
    async with browser(app) as web:
        assert (await sign_in(web, await new_account(sessions, all_grids=True))).status_code == 303
        page = await web.get(f"/web/cases/{inp.case_id}")
    assert page.status_code == 200, page.text
    assert 'data-status="suspended"' in page.text and "缓办中：计时暂停" in page.text
    assert ROWS.findall(page.text)[-2:] == ["suspension_requested", "suspended"]
    assert "申请缓办" in page.text and "中心批准缓办：计时暂停" in page.text
