"""The web pages in a real Chromium (Playwright driving Debian's browser), served by uvicorn.

The app runs on a free loopback port with the test Temporal server, worker and database; a
supervisor signs in through the form, opens a case, urges it and sees the timeline grow,
in Chinese and in English, signs out; a CSRF-less post with a live session is refused; five
wrong passwords lock the account. Each page gets an axe-core pass (no critical or
serious violations), and screenshots go to ``tests/artifacts/`` (gitignored).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.support import case_input, grid_point, open_case, view, wait_for
from tests.web_support import PASSWORD, new_account
from tools.browser import require_chromium

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
ARTIFACTS = Path(__file__).parent / "artifacts"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium from Debian (``tools.browser``); skips saying how to install it."""
    path = require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


async def new_page(browser: Browser, lang: str = "zh-CN") -> Page:
    # the pages forbid every script (CSP); only the test's axe injection needs it lifted
    context = await browser.new_context(locale=lang, bypass_csp=True)
    return await context.new_page()


async def axe_critical(page: Page, name: str) -> list[dict[str, Any]]:
    """Run axe-core on the page; its critical and serious violations (all of them, and a
    screenshot, go to ``tests/artifacts/``)."""
    await page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = await page.evaluate("async () => await axe.run(document)")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)
    assert result["passes"], "axe ran no check at all"
    report = [{k: v[k] for k in ("id", "impact", "help")} for v in result["violations"]]
    (ARTIFACTS / f"web-{name}-axe.json").write_text(json.dumps(report, indent=1))
    return [v for v in result["violations"] if v["impact"] in ("critical", "serious")]


async def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("form[action='/web/signin'] button[type=submit]")


async def escalated_case(env: WorkflowEnvironment, grids: GridIndex) -> str:
    inp = case_input(grids, "red_light_running", grid_point(grids, "G033"), "闯红灯 browser")
    handle = await open_case(env.client, inp)
    await wait_for(handle, lambda v: v.status == "escalated")
    return inp.case_id


async def test_supervisor_urges_in_the_browser_in_chinese_and_english(
    server: str,
    browser: Browser,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    case_id = await escalated_case(env, grids)
    username = await new_account(sessions, all_grids=True)
    page = await new_page(browser)
    await page.goto(f"{server}/web/cases/{case_id}")
    assert page.url == f"{server}/web/signin?next=/web/cases/{case_id}"
    assert await page.text_content("h1") == "登录"
    assert await axe_critical(page, "signin-zh") == []
    await sign_in(page, username)
    await page.wait_for_url(f"{server}/web/cases/{case_id}")
    assert await page.get_attribute("#status", "data-status") == "escalated"
    assert await page.text_content("#status") == "已升级到部门"
    href = await page.get_attribute("#temporal-ui", "href")
    assert href is not None and href.endswith(f"/workflows/case-{case_id}")
    before = await page.locator("#timeline tbody tr").count()
    assert before >= 2
    assert await axe_critical(page, "case-zh") == []

    await page.fill("#urge-note", "请今天之内处理")
    await page.click("#form-urge button[type=submit]")
    await page.wait_for_selector("#done")
    assert await page.locator("#timeline tbody tr").count() == before + 1
    last = page.locator("#timeline tbody tr").last
    assert await last.get_attribute("data-kind") == "supervisor_urge"
    assert "请今天之内处理" in (await last.text_content() or "")
    assert await page.text_content("#urge-count") == "1"
    await page.screenshot(path=str(ARTIFACTS / "web-case-zh-urged.png"), full_page=True)
    live = await view(env.client.get_workflow_handle(f"case-{case_id}"))
    assert live.urge_count == 1 and live.timeline[-1].note == "请今天之内处理"

    # English, chosen on the page (a cookie), then the same case
    await page.click("a[href^='/web/lang/en']")
    await page.wait_for_selector("html[lang='en']")
    assert await page.text_content("#status") == "Escalated to a department"
    assert await page.text_content("#form-urge h3") == "Urge"
    assert await axe_critical(page, "case-en") == []

    await page.click("header form[action='/web/signout'] button")
    await page.wait_for_url(f"{server}/web/signin")
    assert await page.text_content("h1") == "Sign in"
    await page.goto(f"{server}/web/cases/{case_id}")
    assert "/web/signin" in page.url  # the session is over
    await page.context.close()


async def test_a_post_without_the_csrf_token_is_refused(
    server: str,
    browser: Browser,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    case_id = await escalated_case(env, grids)
    page = await new_page(browser)
    await page.goto(f"{server}/web/signin")
    await sign_in(page, await new_account(sessions, all_grids=True))
    await page.wait_for_url(f"{server}/web/")
    # the browser's own cookies, but no token: what a forged cross-site form would send
    forged = await page.request.post(f"{server}/web/cases/{case_id}/urge", form={"note": "forged"})
    assert forged.status == 403
    wrong = await page.request.post(
        f"{server}/web/cases/{case_id}/cancel", form={"reason": "x", "csrf_token": "guess"}
    )
    assert wrong.status == 403
    live = await view(env.client.get_workflow_handle(f"case-{case_id}"))
    assert live.urge_count == 0 and live.status == "escalated"
    await page.context.close()


async def test_five_wrong_passwords_lock_the_account_in_the_browser(
    server: str, browser: Browser, sessions: SessionFactory
) -> None:
    username = await new_account(sessions, all_grids=True)
    page = await new_page(browser, "en-US")
    await page.goto(f"{server}/web/signin")
    for _ in range(5):
        await sign_in(page, username, "wrong password")
        await page.wait_for_selector("#signin-error")
        assert "Wrong username or password" in (await page.text_content("#signin-error") or "")
    await sign_in(page, username)  # right, but too late
    await page.wait_for_selector("#signin-error")
    assert "locked" in (await page.text_content("#signin-error") or "")
    assert "/web/signin" in page.url
    assert await axe_critical(page, "locked-en") == []
    await page.context.close()


async def test_a_stale_page_shows_in_words_why_the_action_was_refused(
    server: str,
    browser: Browser,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
) -> None:
    """Two supervisors on the same case: one cancels it, the other's urge (from the page
    loaded before) is refused by the workflow's validator, and the page says why."""
    case_id = await escalated_case(env, grids)
    first, second = await new_page(browser), await new_page(browser)
    for page in (first, second):
        await page.goto(f"{server}/web/cases/{case_id}")
        await sign_in(page, await new_account(sessions, all_grids=True))
        await page.wait_for_url(f"{server}/web/cases/{case_id}")
    await first.fill("#cancel-reason", "重复上报")
    await first.click("#form-cancel button[type=submit]")
    await first.wait_for_selector("#done")
    assert await first.get_attribute("#status", "data-status") == "cancelled"

    await second.fill("#urge-note", "快办")
    await second.click("#form-urge button[type=submit]")
    await second.wait_for_selector("#refusal")
    refusal = await second.text_content("#refusal") or ""
    assert "案件已经结束" in refusal and "case_ended" in refusal
    assert await second.get_attribute("#status", "data-status") == "cancelled"
    assert await second.text_content("#deadline") == "无期限"  # an ended case waits for nobody
    assert await second.locator("form[id^='form-']").count() == 0  # nothing left to do
    assert await axe_critical(second, "refused-zh") == []
    for page in (first, second):
        await page.context.close()
