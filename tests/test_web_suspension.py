"""Suspension (缓办) from the pages, on the real app, worker, Temporal test server and DB.

The clerk of the department holding a case asks to suspend it from the case page (a reason
code from a choice, a reason, a condition to resume on); the request lands in the center's
"suspension" bucket with a link to the decision form; a refusal without its code is sent
back in words, a refusal with one is taken; asked again, the supervisor approves (the case
shows ``suspended`` and sits in the desk's "suspended" list, with nothing for the clerk to
do), then resumes it; a stale decision gets the validator's refusal in words.
"""

from __future__ import annotations

import re

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.support import view
from tests.test_web_desk import page_until, police_case
from tests.web_support import app, browser, csrf_of, new_account, sign_in

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
__all__ = ["app"]  # a fixture, imported


def forms_of(html: str) -> set[str]:
    return set(re.findall(r'id="form-([a-z_]+)"', html))


async def ask(clerk: httpx.AsyncClient, case_id: str) -> httpx.Response:
    page = await clerk.get(f"/web/cases/{case_id}")
    assert "suspend" in forms_of(page.text), page.text[-2000:]
    assert 'value="awaiting_funds"' in page.text and "等待资金" in page.text
    return await clerk.post(
        f"/web/cases/{case_id}/suspend",
        data={
            "csrf_token": csrf_of(page.text),
            "reason_code": "awaiting_funds",
            "reason": "维修资金待批",
            "resume_on": "",
            "resume_condition": "财政拨款到位",
        },
    )


async def test_a_clerk_asks_and_the_center_refuses_approves_and_resumes(
    app: httpx.ASGITransport, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    case_id = await police_case(env, grids)
    handle = env.client.get_workflow_handle(f"case-{case_id}")
    clerk_name = await new_account(sessions, "department", "traffic_police")
    async with browser(app) as clerk, browser(app) as center:
        await sign_in(clerk, clerk_name)
        await sign_in(center, await new_account(sessions, all_grids=True))
        page = await clerk.get(f"/web/cases/{case_id}")
        took = await clerk.post(
            f"/web/cases/{case_id}/accept", data={"csrf_token": csrf_of(page.text)}
        )
        assert took.status_code == 303, took.text
        asked = await ask(clerk, case_id)
        assert asked.status_code == 303, asked.text
        last = (await view(handle)).timeline[-1]
        assert (
            last.kind == "suspension_requested" and last.data["resume_condition"] == "财政拨款到位"
        )
        page = await clerk.get(f"/web/cases/{case_id}")
        assert "suspend" not in forms_of(page.text)  # already asked: the center decides

        queue = await page_until(center, "/web/queue?bucket=suspension", lambda t: case_id in t)
        assert f'href="/web/cases/{case_id}#form-decide"' in queue
        page = await center.get(f"/web/cases/{case_id}")
        assert {"decide"} <= forms_of(page.text) and "resume" not in forms_of(page.text)
        asked_for = re.search(r'<dd id="suspension">(.*?)</dd>', page.text, re.S)
        assert asked_for is not None
        assert "等待资金" in asked_for.group(1) and "恢复条件：财政拨款到位" in asked_for.group(1)
        assert "等待中心审批" in asked_for.group(1)
        token = csrf_of(page.text)
        no_code = await center.post(
            f"/web/cases/{case_id}/decide", data={"csrf_token": token, "approve": "refuse"}
        )
        assert no_code.status_code == 422 and 'id="refusal"' in no_code.text
        assert "a refusal needs a refusal_code" in no_code.text
        refused = await center.post(
            f"/web/cases/{case_id}/decide",
            data={"csrf_token": token, "approve": "refuse", "refusal_code": "handle_now"},
        )
        assert refused.status_code == 303, refused.text
        after = await view(handle)
        assert after.status == "department_handling"
        assert after.timeline[-1].kind == "suspension_refused"

        assert (await ask(clerk, case_id)).status_code == 303
        approved = await center.post(
            f"/web/cases/{case_id}/decide",
            data={"csrf_token": token, "approve": "approve", "note": "同意缓办"},
        )
        assert approved.status_code == 303, approved.text
        assert (await view(handle)).status == "suspended"
        stale = await center.post(
            f"/web/cases/{case_id}/decide",
            data={"csrf_token": token, "approve": "approve", "idempotency_key": "web-stale-1"},
        )
        assert stale.status_code == 409 and "案件已不在可以这样操作的阶段" in stale.text

        desk = await page_until(clerk, "/web/desk?bucket=suspended", lambda t: case_id in t)
        assert 'data-status="suspended"' in desk
        page = await clerk.get(f"/web/cases/{case_id}")
        assert forms_of(page.text) == set()  # nothing for the clerk while it is suspended
        page = await center.get(f"/web/cases/{case_id}")
        assert forms_of(page.text) == {"resume", "cancel"}
        resumed = await center.post(
            f"/web/cases/{case_id}/resume", data={"csrf_token": token, "note": "资金已到位"}
        )
        assert resumed.status_code == 303, resumed.text
        assert (await view(handle)).status == "department_handling"
        page = await clerk.get(f"/web/cases/{case_id}")
        assert {"result", "suspend"} <= forms_of(page.text)
