"""Photos from the case page, on the real app, worker, Temporal test server and DB.

A clerk of the department holding a working-time case reports the result with a photo
(a streamed multipart form, the same receiver and limits as ``POST /attachments``); the id
lands in the result's evidence and the photo is filed under the case. The supervisor's
case page shows it as a thumbnail through a signed link that opens, with the original for
the center and only the stripped copy for the clerk; the page draws the grid and the point
as SVG and says the deadline in working hours. Refusals store nothing: a forged form (no
CSRF token), a file that is not a picture (415) and too many photos (413), in words.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from schemas.attachments.tables import Attachment
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.attachment_support import jpeg_bytes
from tests.support import grid_point, open_case, view, wait_for
from tests.web_support import app, browser, csrf_of, new_account, sign_in
from tests.worktime_cases import case_of

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
__all__ = ["app"]  # a fixture, imported


async def stored(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count(col(Attachment.id))))).scalar_one())


async def post_result(
    clerk: httpx.AsyncClient, case_id: str, token: str, files: list[tuple[str, bytes, str]]
) -> httpx.Response:
    return await clerk.post(
        f"/web/cases/{case_id}/result",
        data={"csrf_token": token, "note": "已清理占道摊点", "idempotency_key": "web-photo-1"},
        files=[("files", f) for f in files],
    )


async def test_a_clerk_reports_with_a_photo_and_the_center_sees_it(
    app: httpx.ASGITransport, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    inp = case_of(grids, "street_vendor", grid_point(grids, "G061"), department_direct=True)
    handle = await open_case(env.client, inp)
    await wait_for(handle, lambda v: v.status == "escalated")
    case_id = inp.case_id
    async with browser(app) as clerk, browser(app) as center:
        await sign_in(clerk, await new_account(sessions, "department", "urban_management"))
        await sign_in(center, await new_account(sessions, all_grids=True))
        page = await clerk.get(f"/web/cases/{case_id}")
        assert "工作小时" in page.text  # the deadline as people read it
        took = await clerk.post(
            f"/web/cases/{case_id}/accept", data={"csrf_token": csrf_of(page.text)}
        )
        assert took.status_code == 303
        page = await clerk.get(f"/web/cases/{case_id}")
        assert 'enctype="multipart/form-data"' in page.text and 'name="files"' in page.text
        token = csrf_of(page.text)
        photo = ("site.jpg", jpeg_bytes(), "image/jpeg")
        before = await stored(sessions)

        forged = await post_result(clerk, case_id, "not-the-token", [photo])
        assert forged.status_code == 403
        renamed = await post_result(
            clerk, case_id, token, [("x.jpg", b"MZ\x90\x00" * 300, "image/jpeg")]
        )
        assert renamed.status_code == 415 and "只接受 JPEG、PNG、HEIC 或 MP4" in renamed.text
        ten = [(f"p{i}.jpg", jpeg_bytes(64, 48, seed=i), "image/jpeg") for i in range(10)]
        too_many = await post_result(clerk, case_id, token, ten)
        assert too_many.status_code == 413 and "照片太大或太多" in too_many.text
        assert await stored(sessions) == before  # nothing kept from any refusal
        assert (await view(handle)).status == "department_handling"

        done = await post_result(clerk, case_id, token, [photo])
        assert done.status_code == 303, done.text
        after = await view(handle)
        assert after.status == "resolved"
        evidence = after.timeline[-1].evidence
        assert len(evidence) == 1 and evidence[0].kind == "photo"
        attachment_id = evidence[0].attachment_id
        assert attachment_id is not None and await stored(sessions) == before + 1
        async with sessions() as session:
            row = await session.get(Attachment, attachment_id)
        assert row is not None and row.owner_id == case_id  # filed under the case

        html = (await center.get(f"/web/cases/{case_id}")).text
        thumb = re.search(rf'<img src="(/files/{attachment_id}/thumb\?[^"]+)"', html)
        assert thumb is not None, html[-3000:]
        shown = await center.get(thumb.group(1).replace("&amp;", "&"))
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
        assert f'href="/files/{attachment_id}/original?' in html  # the center's original
        own = (await clerk.get(f"/web/cases/{case_id}")).text
        assert f'href="/files/{attachment_id}/public?' in own
        assert f"/files/{attachment_id}/original" not in own

        svg = re.search(r'<svg[^>]*role="img".*?</svg>', html, re.S)
        assert svg is not None and 'class="grid-outline"' in svg.group(0)
        point = re.search(r'class="case-point" cx="([0-9.]+)" cy="([0-9.]+)"', svg.group(0))
        size = re.search(r'viewBox="0 0 ([0-9.]+) ([0-9.]+)"', svg.group(0))
        assert point is not None and size is not None
        assert 0 < float(point.group(1)) < float(size.group(1))
        assert 0 < float(point.group(2)) < float(size.group(2))
