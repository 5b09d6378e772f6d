"""The department desk on the real app, worker, Temporal test server and DB (no browser).

A clerk sees the case sent to the department under "new", takes it from the desk (the same
``department_accept`` update as ``/departments``), asks for more time, reports the result;
another case is returned with a reason and lands in the center's "returned" bucket. A stale
form's refusal comes back in words; a clerk of another department gets 403 pages.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.support import case_input, grid_point, open_case, view, wait_for
from tests.web_support import app, browser, csrf_of, new_account, sign_in

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
__all__ = ["app"]  # a fixture, imported


async def police_case(env: WorkflowEnvironment, grids: GridIndex, grid: str = "G021") -> str:
    """A red-light case goes straight to the traffic police."""
    inp = case_input(grids, "red_light_running", grid_point(grids, grid), "闯红灯 desk")
    handle = await open_case(env.client, inp)
    await wait_for(handle, lambda v: v.status == "escalated")
    return inp.case_id


async def page_until(
    web: httpx.AsyncClient, url: str, check: Callable[[str], bool], within: float = 20
) -> str:
    """GET ``url`` until ``check`` holds (the projection follows the workflow by an activity)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        page = await web.get(url)
        assert page.status_code == 200, page.text
        if check(page.text) or loop.time() > end:
            assert check(page.text), page.text[-3000:]
            return page.text
        await asyncio.sleep(0.2)


async def test_a_clerk_takes_extends_and_reports_from_the_desk(
    app: httpx.ASGITransport, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    case_id = await police_case(env, grids)
    handle = env.client.get_workflow_handle(f"case-{case_id}")
    async with browser(app) as clerk:
        await sign_in(clerk, await new_account(sessions, "department", "traffic_police"))
        desk = await page_until(clerk, "/web/desk?bucket=new", lambda t: case_id in t)
        assert f'id="take-{case_id}"' in desk
        key = re.search(rf'value="(web-[0-9a-f]+-{case_id})"', desk)
        assert key is not None
        took = await clerk.post(
            f"/web/cases/{case_id}/accept",
            data={
                "csrf_token": csrf_of(desk),
                "idempotency_key": key.group(1),
                "next": "/web/desk?bucket=in_hand",
            },
        )
        assert took.status_code == 303 and took.headers["location"] == "/web/desk?bucket=in_hand"
        assert (await view(handle)).status == "department_handling"
        await page_until(clerk, "/web/desk?bucket=in_hand", lambda t: case_id in t)

        # a stale "take" (someone else took it meanwhile): the validator's refusal, in words
        stale = await clerk.post(
            f"/web/cases/{case_id}/accept",
            data={"csrf_token": csrf_of(desk), "idempotency_key": f"web-stale-{case_id}"},
        )
        assert stale.status_code == 409
        assert 'id="refusal"' in stale.text and "案件已不在可以这样操作的阶段" in stale.text

        page = await clerk.get(f"/web/cases/{case_id}")
        forms = set(re.findall(r'id="form-([a-z]+)"', page.text))
        assert forms == {"result", "extension", "return", "suspend"}
        token = csrf_of(page.text)
        more = await clerk.post(
            f"/web/cases/{case_id}/extension",
            data={"csrf_token": token, "hours": "12", "reason": "等待配件"},
        )
        assert more.status_code == 303, more.text
        kinds = [e.kind for e in (await view(handle)).timeline]
        assert "extension_granted" in kinds
        done = await clerk.post(
            f"/web/cases/{case_id}/result", data={"csrf_token": token, "note": "已处理完毕"}
        )
        assert done.status_code == 303, done.text
        assert (await view(handle)).status == "resolved"

    async with browser(app) as center:
        await sign_in(center, await new_account(sessions, all_grids=True))
        await page_until(center, "/web/queue?bucket=verify", lambda t: case_id in t)


async def test_a_returned_case_reaches_the_center_and_other_clerks_are_kept_out(
    app: httpx.ASGITransport, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    case_id = await police_case(env, grids, "G007")
    handle = env.client.get_workflow_handle(f"case-{case_id}")
    async with browser(app) as fire:
        await sign_in(fire, await new_account(sessions, "department", "fire"))
        desk = await fire.get("/web/desk?bucket=new")
        assert case_id not in desk.text
        refused = await fire.get(f"/web/cases/{case_id}")
        assert refused.status_code == 403 and 'data-reason="not_yours"' in refused.text
        act = await fire.post(
            f"/web/cases/{case_id}/return",
            data={"csrf_token": csrf_of(desk.text), "reason": "不是我们的"},
        )
        assert act.status_code == 403 and 'data-reason="not_yours"' in act.text
        assert (await view(handle)).status == "escalated"
        assert (await fire.get("/web/queue")).status_code == 403  # the center's page

    async with browser(app) as clerk:
        await sign_in(clerk, await new_account(sessions, "department", "traffic_police"))
        page = await page_until(clerk, f"/web/cases/{case_id}", lambda t: "form-return" in t)
        back = await clerk.post(
            f"/web/cases/{case_id}/return",
            data={"csrf_token": csrf_of(page), "reason": "不属于交警职责"},
        )
        assert back.status_code == 303, back.text
        assert (await view(handle)).status == "returned"

    async with browser(app) as scoped:
        await sign_in(scoped, await new_account(sessions, grids=("G007",)))
        queue = await page_until(scoped, "/web/queue?bucket=returned", lambda t: case_id in t)
        assert f'href="/web/cases/{case_id}"' in queue
