"""The case page on the real app, worker, Temporal test server and DB (no browser here).

What it shows (status, who it waits for, deadline, timeline, the Temporal Web UI link),
which forms a supervisor and a department clerk get, and that a form's action runs the same
update as ``/supervisors``: the timeline grows, a CSRF-less post is refused, and a refusal
by the workflow's validator comes back as a 409 page saying why in words.
"""

from __future__ import annotations

import re

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from schemas.cases.workflow import DepartmentAccept, DepartmentReport
from schemas.platform.common import Actor
from schemas.platform.updates import Update
from services.cases import operations as cases
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import case_input, grid_point, key, open_case, view, wait_for
from tests.web_support import app, browser, csrf_of, new_account, sign_in

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
__all__ = ["app"]  # a fixture, imported
ROWS = re.compile(r'<tr data-kind="([a-z_]+)">')


async def escalated_case(env: WorkflowEnvironment, grids: GridIndex) -> str:
    """A red-light case: straight to the traffic police (nobody is on duty anyway)."""
    inp = case_input(grids, "red_light_running", grid_point(grids, "G021"), "闯红灯 web")
    handle = await open_case(env.client, inp)
    await wait_for(handle, lambda v: v.status == "escalated")
    return inp.case_id


async def test_supervisor_urges_from_the_case_page_and_the_timeline_grows(
    app: httpx.ASGITransport,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
) -> None:
    case_id = await escalated_case(env, grids)
    async with browser(app) as web:
        first = await web.get(f"/web/cases/{case_id}")
        assert first.headers["location"] == f"/web/signin?next=/web/cases/{case_id}"
        assert (await sign_in(web, await new_account(sessions, all_grids=True))).status_code == 303
        page = await web.get(f"/web/cases/{case_id}")
        assert page.status_code == 200, page.text
        assert 'data-status="escalated"' in page.text
        ui = f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows"
        assert f'href="{ui}/case-{case_id}"' in page.text
        forms = set(re.findall(r'id="form-([a-z]+)"', page.text))
        assert forms == {"urge", "extend", "reassign", "escalate", "cancel"}  # no result yet
        before = ROWS.findall(page.text)

        # no CSRF token: refused, and the case is not urged
        bare = await web.post(f"/web/cases/{case_id}/urge", data={"note": "快办"})
        assert bare.status_code == 403
        urge = {
            "note": "请今天办结",
            "csrf_token": csrf_of(page.text),
            "idempotency_key": "web-test-urge-0001",
        }
        done = await web.post(f"/web/cases/{case_id}/urge", data=urge)
        assert done.status_code == 303 and done.headers["location"].endswith("?done=urge")
        after = await web.get(done.headers["location"])
        assert ROWS.findall(after.text) == [*before, "supervisor_urge"]
        assert "请今天办结" in after.text and 'id="urge-count">1<' in after.text
        assert "已完成：督办" in after.text
        # the same form sent twice (same idempotency key) urges once
        await web.post(f"/web/cases/{case_id}/urge", data=urge)
        state = await view(env.client.get_workflow_handle(f"case-{case_id}"))
        assert state.urge_count == 1
        assert (
            state.timeline[-1].actor is not None and state.timeline[-1].actor.role == "supervisor"
        )

        # a stale page: verify while nothing is resolved -> 409 with the reason in words
        stale = await web.post(
            f"/web/cases/{case_id}/verify",
            data={"passed": "pass", "csrf_token": csrf_of(page.text)},
        )
        assert stale.status_code == 409
        assert "案件已不在可以这样操作的阶段" in stale.text and "wrong_stage" in stale.text
        # a form that does not fit the body model: 422 naming the field, nothing recorded
        bad = await web.post(
            f"/web/cases/{case_id}/extend",
            data={"hours": "-3", "reason": "x", "csrf_token": csrf_of(page.text)},
        )
        assert bad.status_code == 422 and "extra" in bad.text
        assert len((await view(env.client.get_workflow_handle(f"case-{case_id}"))).timeline) == len(
            state.timeline
        )


async def test_department_clerk_takes_and_reports_its_case_from_the_page(
    app: httpx.ASGITransport,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    """A clerk acts as the department (the same ``Actor`` its bearer token gives): its own
    forms, as /departments; no supervisor form; another department may not even read it."""
    case_id = await escalated_case(env, grids)
    async with browser(app) as police, browser(app) as fire:
        await sign_in(police, await new_account(sessions, "department", "traffic_police"))
        page = await police.get(f"/web/cases/{case_id}")
        assert page.status_code == 200
        assert set(re.findall(r'id="form-([a-z]+)"', page.text)) == {
            *("accept", "result", "extension", "return", "suspend"),
        }
        token = csrf_of(page.text)
        refused = await police.post(
            f"/web/cases/{case_id}/urge", data={"note": "x", "csrf_token": token}
        )
        assert refused.status_code == 403  # a supervisor's action
        taken = await police.post(f"/web/cases/{case_id}/accept", data={"csrf_token": token})
        assert taken.status_code == 303, taken.text
        page = await police.get(f"/web/cases/{case_id}")
        assert 'data-status="department_handling"' in page.text
        assert set(re.findall(r'id="form-([a-z]+)"', page.text)) == {
            *("result", "extension", "return", "suspend"),
        }
        # more time than the policy lets a department take alone (its SLA, 3 days): the
        # validator says no, and the page says why
        greedy = await police.post(
            f"/web/cases/{case_id}/extension",
            data={"hours": "100", "reason": "等配件", "csrf_token": token},
        )
        assert greedy.status_code == 409 and "超出了允许的范围" in greedy.text
        reported = await police.post(
            f"/web/cases/{case_id}/result", data={"note": "已处罚", "csrf_token": token}
        )
        assert reported.status_code == 303
        state = await view(env.client.get_workflow_handle(f"case-{case_id}"))
        assert state.status == "resolved"
        assert state.timeline[-1].actor == Actor(role="department", id="traffic_police")

        await sign_in(fire, await new_account(sessions, "department", "fire"))
        assert (await fire.get(f"/web/cases/{case_id}")).status_code == 403
        missing = await police.get("/web/cases/GP-NOSUCHCASE0000")
        assert missing.status_code == 404 and "GP-NOSUCHCASE0000" in missing.text


async def test_verify_form_appears_once_a_result_is_reported_and_closes_the_case(
    app: httpx.ASGITransport,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    case_id = await escalated_case(env, grids)
    police = Actor(role="department", id="traffic_police")
    await cases.act(
        env.client, case_id, Update.DEPARTMENT_ACCEPT,
        DepartmentAccept(actor=police, idempotency_key=key()),
    )  # fmt: skip
    await cases.act(
        env.client, case_id, Update.DEPARTMENT_REPORT,
        DepartmentReport(note="已处罚", actor=police, idempotency_key=key()),
    )  # fmt: skip
    async with browser(app) as web:
        await sign_in(web, await new_account(sessions, all_grids=True))
        page = await web.get(f"/web/cases/{case_id}")
        assert 'data-status="resolved"' in page.text
        forms = set(re.findall(r'id="form-([a-z]+)"', page.text))
        assert forms == {"verify", "urge", "extend", "cancel"}  # no reassign/escalate now
        done = await web.post(
            f"/web/cases/{case_id}/verify",
            data={"passed": "pass", "note": "现场已核实", "csrf_token": csrf_of(page.text)},
        )
        assert done.status_code == 303, done.text
    handle = env.client.get_workflow_handle(f"case-{case_id}")
    assert await handle.result() is not None  # verified -> closed, the workflow ended
    async with browser(app) as web:
        await sign_in(web, await new_account(sessions, all_grids=True))
        closed = await web.get(f"/web/cases/{case_id}")  # now from the projection
        assert 'data-status="closed"' in closed.text and 'id="form-' not in closed.text
        rows = re.findall(r'<tr data-kind="([a-z_]+)">(.*?)</tr>', closed.text, re.S)
        assert [kind for kind, _ in rows][-2:] == ["verified", "closed"]
        assert "现场已核实" in rows[-2][1] and "supervisor u-" in rows[-2][1]


async def test_cancel_from_the_page_ends_the_case(
    app: httpx.ASGITransport,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    case_id = await escalated_case(env, grids)
    async with browser(app) as web:
        await sign_in(web, await new_account(sessions, all_grids=True))
        page = await web.get(f"/web/cases/{case_id}")
        token = csrf_of(page.text)
        empty = await web.post(f"/web/cases/{case_id}/cancel", data={"csrf_token": token})
        assert empty.status_code == 422  # a cancel needs a reason, as on /supervisors
        gone = await web.post(
            f"/web/cases/{case_id}/cancel", data={"reason": "重复上报", "csrf_token": token}
        )
        assert gone.status_code == 303
        await env.client.get_workflow_handle(f"case-{case_id}").result()
        again = await web.post(
            f"/web/cases/{case_id}/urge", data={"note": "迟到的督办", "csrf_token": token}
        )
        assert again.status_code == 409 and "案件已经结束" in again.text
