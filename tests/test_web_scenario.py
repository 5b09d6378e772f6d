"""A day at the workbench in a real Chromium (Playwright driving Debian's browser).

A supervisor overseeing G001–G010 signs in, finds a case a department returned in the
queue and reassigns it, verifies one result and rejects another (rework), switches to
English, and exports the week as XLSX (opened here with openpyxl); a CSRF-less post with
her live session is refused. A traffic-police clerk takes a new case from the desk and
reports its result with a photo (the page's multipart form), which a supervisor then sees
as a thumbnail on the case page; a fire clerk gets the 403 page for it. Every page passes
axe-core (no critical or serious violation); screenshots land in the directory the test
prints.
"""

from __future__ import annotations

import asyncio

import openpyxl
from playwright.async_api import Browser, Page
from temporalio.testing import WorkflowEnvironment

from schemas.cases.workflow import DepartmentAccept, DepartmentReport, DepartmentReturn
from schemas.platform.common import Actor
from schemas.platform.updates import Update
from services.cases import operations as cases
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.attachment_support import jpeg_bytes
from tests.support import case_input, grid_point, key, open_case, view, wait_for
from tests.test_web_browser import (  # the same browser, page and axe helpers
    ARTIFACTS,
    axe_critical,
    browser,  # noqa: F401  (a fixture)
    new_page,
    pytestmark,  # noqa: F401  (worker, off_duty)
    sign_in,
)
from tests.web_support import new_account

TEN = tuple(f"G{n:03d}" for n in range(1, 11))
POLICE = Actor(role="department", id="traffic_police")
SHOTS = ARTIFACTS / "scenario"


async def police_case(env: WorkflowEnvironment, grids: GridIndex, grid: str) -> str:
    inp = case_input(grids, "red_light_running", grid_point(grids, grid), f"闯红灯 {grid}")
    handle = await open_case(env.client, inp)
    await wait_for(handle, lambda v: v.status == "escalated")
    return inp.case_id


async def as_police(env: WorkflowEnvironment, case_id: str, *steps: str) -> None:
    actions = {
        "accept": (Update.DEPARTMENT_ACCEPT, DepartmentAccept(actor=POLICE, idempotency_key=key())),
        "report": (
            Update.DEPARTMENT_REPORT,
            DepartmentReport(note="已处理", actor=POLICE, idempotency_key=key()),
        ),
        "return": (
            Update.DEPARTMENT_RETURN,
            DepartmentReturn(reason="不属于交警职责", actor=POLICE, idempotency_key=key()),
        ),
    }
    for step in steps:
        update, action = actions[step]
        await cases.act(env.client, case_id, update, action)


async def checked(page: Page, name: str) -> None:
    """axe-core on the page (no critical or serious violation) and a screenshot."""
    assert await axe_critical(page, f"scenario-{name}") == [], name
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def until_listed(page: Page, url: str, case_id: str, within: float = 20) -> None:
    """Reload ``url`` until the case's row shows (the projection follows by an activity)."""
    for _ in range(int(within / 0.25)):
        await page.goto(url)
        if await page.locator(f"tr[data-case='{case_id}']").count():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{case_id} never listed on {url}")


async def test_a_day_at_the_workbench(
    server: str,
    browser: Browser,  # noqa: F811
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    print(f"\nscreenshots and axe reports: {SHOTS} and {ARTIFACTS}")
    returned, passing, failing, fresh = [
        await police_case(env, grids, grid) for grid in ("G003", "G004", "G005", "G006")
    ]
    await as_police(env, returned, "return")
    await as_police(env, passing, "accept", "report")
    await as_police(env, failing, "accept", "report")
    handle = env.client.get_workflow_handle

    # ---- the supervisor ------------------------------------------------------------
    page = await new_page(browser)
    await page.goto(f"{server}/web/queue")
    await sign_in(page, await new_account(sessions, grids=TEN))
    await page.wait_for_url(f"{server}/web/queue")
    await until_listed(page, f"{server}/web/queue?bucket=returned", returned)
    await checked(page, "queue-returned-zh")
    await page.click(f"a[href='/web/cases/{returned}']")
    await page.wait_for_url(f"{server}/web/cases/{returned}")
    await checked(page, "case-returned-zh")
    await page.fill("#reassign-reason", "请重新派给网格管家")
    await page.click("#form-reassign button[type=submit]")
    await page.wait_for_selector("#done")
    kinds = [e.kind for e in (await view(handle(f"case-{returned}"))).timeline]
    assert "reassigned" in kinds

    await until_listed(page, f"{server}/web/queue?bucket=verify", passing)
    await until_listed(page, f"{server}/web/queue?bucket=verify", failing)
    await page.click(f"a[href='/web/cases/{passing}']")
    await page.check("#verify-passed-pass")
    await page.click("#form-verify button[type=submit]")
    await page.wait_for_selector("#done")
    await wait_for(handle(f"case-{passing}"), lambda v: v.status == "closed")

    await page.goto(f"{server}/web/cases/{failing}")
    await page.check("#verify-passed-fail")
    await page.fill("#verify-note", "路口仍有违停，返工")
    await page.click("#form-verify button[type=submit]")
    await page.wait_for_selector("#done")
    rework = await view(handle(f"case-{failing}"))
    assert "verification_failed" in [e.kind for e in rework.timeline]
    assert rework.rework_count == 1
    await checked(page, "case-rework-zh")

    await page.goto(f"{server}/web/queue")
    await page.click("a[href^='/web/lang/en']")
    await page.wait_for_selector("html[lang='en']")
    assert "Center queue" in (await page.text_content("h1") or "")
    await checked(page, "queue-en")

    await page.goto(f"{server}/web/evaluation")
    assert await page.locator("svg.chart").count() == 4
    await checked(page, "evaluation-en")
    async with page.expect_download() as download_info:
        await page.click("#export-cases-xlsx")
    download = await download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    saved = SHOTS / download.suggested_filename  # kept with the screenshots
    await download.save_as(saved)
    sheet = openpyxl.load_workbook(saved, read_only=True)["cases"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("case_id", "case_type", "status")
    exported = {row[0]: row for row in rows[1:]}
    assert {returned, passing, failing, fresh} <= set(exported)
    assert exported[passing][2] == "closed"
    assert all(row[5] in TEN for row in exported.values())  # her grids only

    # her own browser, her own session cookie, but no CSRF token: refused
    forged = await page.request.post(f"{server}/web/cases/{fresh}/urge", form={"note": "x"})
    assert forged.status == 403
    assert (await view(handle(f"case-{fresh}"))).urge_count == 0
    await page.context.close()

    # ---- the traffic police clerk -------------------------------------------------
    clerk = await new_page(browser)
    await clerk.goto(f"{server}/web/desk")
    await sign_in(clerk, await new_account(sessions, "department", "traffic_police"))
    await clerk.wait_for_url(f"{server}/web/desk")
    await until_listed(clerk, f"{server}/web/desk?bucket=new", fresh)
    await checked(clerk, "desk-zh")
    await clerk.click(f"#take-{fresh}")
    await clerk.wait_for_url(f"{server}/web/desk?bucket=in_hand")
    assert (await view(handle(f"case-{fresh}"))).status == "department_handling"
    await clerk.goto(f"{server}/web/cases/{fresh}")
    assert await clerk.locator("#form-suspend select#suspend-reason_code").count() == 1
    await checked(clerk, "case-clerk-forms-zh")  # result with photos, suspend, return...
    await clerk.fill("#result-note", "已现场处罚并劝离")
    photo = SHOTS / "site-photo.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(jpeg_bytes(800, 600))
    await clerk.set_input_files("#result-files", str(photo))
    await clerk.click("#form-result button[type=submit]")
    await clerk.wait_for_selector("#done")
    resolved = await view(handle(f"case-{fresh}"))
    assert resolved.status == "resolved"
    cited = [e.attachment_id for e in resolved.timeline[-1].evidence if e.attachment_id]
    assert len(cited) == 1
    await checked(clerk, "case-clerk-zh")
    await clerk.context.close()

    # ---- a supervisor sees the clerk's photo -------------------------------------------
    center = await new_page(browser)
    await center.goto(f"{server}/web/cases/{fresh}")
    await sign_in(center, await new_account(sessions, grids=TEN))
    await center.wait_for_url(f"{server}/web/cases/{fresh}")
    thumb = center.locator(f"#photos li[data-attachment='{cited[0]}'] img")
    await thumb.wait_for()
    loaded = await thumb.evaluate("img => img.complete && img.naturalWidth")
    assert loaded and 0 < loaded <= 800  # the thumbnail's bytes arrived through the signed link
    assert await center.locator("#map svg polygon.grid-outline").count() >= 1
    await checked(center, "case-photo-zh")
    await center.context.close()

    # ---- a clerk of another department ----------------------------------------------
    fire = await new_page(browser, "en-US")
    await fire.goto(f"{server}/web/signin")
    await sign_in(fire, await new_account(sessions, "department", "fire"))
    await fire.wait_for_url(f"{server}/web/")
    answer = await fire.goto(f"{server}/web/cases/{fresh}")
    assert answer is not None and answer.status == 403
    assert await fire.get_attribute("#forbidden", "data-reason") == "not_yours"
    await checked(fire, "forbidden-en")
    await fire.context.close()
