"""The supervisor board in a real headless Chromium, served by the real API over uvicorn.

The API runs in this process on a free loopback port, with the test Temporal server, the
test worker and the test database. One case is pushed past its department deadline with the
time-skipping server (``env.sleep``), one is closed, one stays open; Chromium then loads
the page as a supervisor's browser would (token in the URL, moved to a cookie by a
redirect) and we check the DOM it built, and keep a screenshot in ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

from api.security import issue_token
from schemas.cases.tables import CaseRecord
from schemas.platform.common import Actor, Role
from services.cases.operations import start_case
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import case_input, grid_point, place_stewards, track
from tests.test_visibility import with_department_deadline
from tools.browser import require_chromium

pytestmark = pytest.mark.usefixtures("worker", "off_duty")

LATE_SLA = timedelta(minutes=10)
WAIT_STEPS = 1200  # x 50 ms: generous, the two cores are shared with other suites
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class Dom(HTMLParser):
    """Every start tag with its attributes, and the text, of the DOM Chromium dumped."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        """Attributes of every ``tag`` element (with class ``cls`` when given)."""
        return [
            attrs
            for name, attrs in self.tags
            if name == tag and (cls is None or cls in attrs.get("class", "").split())
        ]


async def chromium(*args: str) -> str:
    """Run headless Chromium once with a fresh profile; its stdout.

    No browser on this machine: the test skips saying how to install one (``make test``
    installs it where it can, ``tools.browser``); CI fails on that skip."""
    browser = require_chromium()
    with tempfile.TemporaryDirectory() as profile:
        process = await asyncio.create_subprocess_exec(
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout.decode()


def token(settings: Settings, role: Role, subject: str) -> str:
    actor = Actor(role=role, id=subject)
    return issue_token(settings.api_token_secret.get_secret_value(), actor)


async def wait_case(
    http: httpx.AsyncClient, base: str, auth: dict[str, str], case_id: str, status: str
) -> None:
    for _ in range(WAIT_STEPS):
        body = (await http.get(f"{base}/cases/{case_id}", headers=auth)).json()
        if body.get("status") == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id} never reached {status}: {body}")


async def wait_overdue(sessions: SessionFactory, case_id: str) -> None:
    for _ in range(WAIT_STEPS):
        async with sessions() as session:
            row = (
                await session.execute(
                    select(col(CaseRecord.overdue)).where(col(CaseRecord.case_id) == case_id)
                )
            ).scalar_one_or_none()
        if row:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case_id} never projected as overdue")


async def test_supervisor_board_in_headless_chromium(
    server: str,
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    require_chromium()  # skip (with the install command) before any slow set-up
    supervisor = {"Authorization": f"Bearer {token(settings, 'supervisor', 'center-zhou')}"}
    camera = {
        "Authorization": f"Bearer {token(settings, 'citizen', 'c-0017')}"
    }  # a citizen's report
    police = {"Authorization": f"Bearer {token(settings, 'department', 'traffic_police')}"}
    async with httpx.AsyncClient(timeout=10) as http:
        # one case closed through the traffic police, so the evaluation has a closed row
        body = {
            "case_type": "red_light_running",
            "location": grid_point(grids, "G040").model_dump(),
        }
        closed = track(
            (await http.post(f"{server}/cases", json=body, headers=camera)).json()["case_id"]
        )
        await wait_case(http, server, police, closed, "escalated")
        base = f"{server}/departments/traffic_police/cases/{closed}"
        assert (await http.post(f"{base}/accept", json={}, headers=police)).status_code == 200
        report = await http.post(f"{base}/result", json={"note": "已处罚"}, headers=police)
        assert report.status_code == 200, report.text
        verify = await http.post(
            f"{server}/supervisors/cases/{closed}/verify", json={"passed": True}, headers=supervisor
        )
        assert verify.status_code == 200, verify.text
        await wait_case(http, server, supervisor, closed, "closed")

        # one case left with the department past its deadline: urged and overdue. Its policy
        # snapshot gets a 10-minute department SLA (the policy is data in the input), so the
        # time skipped is short and other tests' open workflows barely move.
        inp = with_department_deadline(
            case_input(grids, "red_light_running", grid_point(grids, "G017"), "闯红灯"),
            LATE_SLA,
        )
        await start_case(env.client, inp, settings.task_queue)
        late = track(inp.case_id)
        await wait_case(http, server, police, late, "escalated")
        await env.sleep(LATE_SLA + timedelta(minutes=1))
        await wait_overdue(sessions, late)

        # and one fresh case offered to a steward: open, not overdue
        at = grid_point(grids, "G050")
        await place_stewards(sessions, grids, at, 1)
        body = {"case_type": "illegal_parking", "location": at.model_dump()}
        fresh = track(
            (await http.post(f"{server}/cases", json=body, headers=camera)).json()["case_id"]
        )
        await wait_case(http, server, supervisor, fresh, "dispatched")

        # authentication of the page: header, ?token= (moved to a cookie), cookie; roles
        assert (await http.get(f"{server}/supervisor")).status_code == 401
        steward_token = token(settings, "steward", "S0001")
        forbidden = await http.get(f"{server}/supervisor", params={"token": steward_token})
        assert forbidden.status_code == 403
        signin = await http.get(
            f"{server}/supervisor", params={"token": supervisor["Authorization"][7:], "days": 7}
        )
        assert signin.status_code == 303
        assert signin.headers["location"] == "/supervisor?days=7"
        cookie = signin.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/supervisor" in cookie
        page = await http.get(f"{server}/supervisor", headers=supervisor)
        assert page.status_code == 200
        assert "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]

        url = f"{server}/supervisor?group_by=grid&token={supervisor['Authorization'][7:]}"
        dom = Dom(await chromium("--dump-dom", url))
        grid_paths = dom.find("path", cls="grid")
        assert len(grid_paths) == 108
        g017 = next(p for p in grid_paths if p["data-grid"] == "G017")
        assert int(g017["data-overdue"]) >= 1
        assert g017["fill"] != next(p for p in grid_paths if p["data-grid"] == "G050")["fill"]
        overdue_rows = [row["data-case"] for row in dom.find("tr", cls="overdue-case")]
        assert late in overdue_rows
        assert fresh not in overdue_rows and closed not in overdue_rows
        ui = f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows"
        links = [a["href"] for a in dom.find("a", cls="temporal-link")]
        assert f"{ui}/case-{late}" in links
        evaluation = [row["data-key"] for row in dom.find("tr", cls="evaluation-row")]
        assert {"G017", "G040", "G050"} <= set(evaluation)
        assert "综合评价" in "".join(dom.text) and "Evaluation" in "".join(dom.text)

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "supervisor.png"
        shot.unlink(missing_ok=True)
        await chromium(f"--screenshot={shot}", "--window-size=1600,1400", url)
        assert shot.stat().st_size > 20_000

        metrics = (await http.get(f"{server}/metrics")).text
        assert (
            'gridplus_http_requests_total{method="GET",route="/supervisor",status="200"}' in metrics
        )
        assert 'route="/cases/{case_id}"' in metrics
        assert "gridplus_http_request_duration_seconds_bucket{" in metrics
