"""The center's queue and the grid scope, on the real app and database (no browser here).

The queue's buckets count what a person must act on (returned, to verify, extensions,
overdue, head-escalated, unclaimed) within the supervisor's grids, under the page's
filters; one click leads to the case. The same scope holds on the JSON API: a supervisor
overseeing G001–G010 neither lists, reads nor acts on a G021 case; the head does.
"""

from __future__ import annotations

import re

import httpx

from services.platform.db import SessionFactory
from settings import Settings
from tests.queue_support import event, record, store
from tests.security_support import bearer
from tests.web_support import app, browser, new_account, sign_in

__all__ = ["app"]  # a fixture, imported

TEN = tuple(f"G{n:03d}" for n in range(1, 11))
COUNT = re.compile(r'id="bucket-([a-z_]+)"[^>]*>[^<]*<span class="count" data-count="(\d+)"')


async def counts(web: httpx.AsyncClient, query: str = "") -> dict[str, int]:
    page = await web.get(f"/web/queue?{query}")
    assert page.status_code == 200, page.text
    return {name: int(n) for name, n in COUNT.findall(page.text)}


async def test_the_queue_counts_what_needs_a_person_in_the_supervisors_grids(
    app: httpx.ASGITransport, sessions: SessionFactory
) -> None:
    returned = record("G001", "returned", handler="steward")
    verify = record("G002", "resolved", handler="steward")
    overdue = record("G003", "department_handling", overdue=True)
    head = record("G004", "department_handling", overdue=True, deadline=None)
    unclaimed = record("G005", "escalated", department="fire")
    extended = record("G006", "department_handling")
    asks = record("G007", "accepted", handler="steward")  # asked to suspend, undecided
    declined = record("G008", "accepted", handler="steward")  # asked, and refused
    elsewhere = record("G021", "returned", handler="steward")  # outside G001–G010
    closed = record("G001", "closed", deadline=None)
    async with browser(app) as scoped, browser(app) as chief:
        await sign_in(scoped, await new_account(sessions, grids=TEN))
        await sign_in(chief, await new_account(sessions, all_grids=True))
        before, chief_before = await counts(scoped), await counts(chief)
        await store(
            sessions,
            [
                returned,
                verify,
                overdue,
                head,
                unclaimed,
                extended,
                asks,
                declined,
                elsewhere,
                closed,
            ],
            [
                event(asks.case_id, 1, "suspension_requested", "accepted"),
                event(declined.case_id, 1, "suspension_requested", "accepted"),
                event(declined.case_id, 2, "suspension_refused", "accepted"),
                event(head.case_id, 1, "department_head_escalation", "department_handling"),
                event(unclaimed.case_id, 1, "no_steward_available", "filed"),
                event(extended.case_id, 1, "extension_granted", "department_handling"),
            ],
        )
        after = await counts(scoped)
        grown = {name: after[name] - before[name] for name in after}
        assert grown == {
            "returned": 1,
            "verify": 1,
            "suspension": 1,
            "extension": 1,
            "overdue": 2,
            "head": 1,
            "unclaimed": 1,
        }
        chief_after = await counts(chief)
        assert chief_after["returned"] - chief_before["returned"] == 2  # the head sees G021

        page = await scoped.get("/web/queue?bucket=returned")
        assert f'href="/web/cases/{returned.case_id}"' in page.text
        assert elsewhere.case_id not in page.text
        assert elsewhere.case_id in (await chief.get("/web/queue?bucket=returned")).text

        # filters: a grid, a department, a source; an unknown value is ignored, not an error
        only_g001 = await counts(scoped, "grid_id=G001")
        assert only_g001["verify"] == (await counts(scoped, "grid_id=G001&bucket=verify"))["verify"]
        fire = await scoped.get("/web/queue?bucket=unclaimed&department=fire")
        assert unclaimed.case_id in fire.text
        police = await scoped.get("/web/queue?bucket=unclaimed&department=traffic_police")
        assert unclaimed.case_id not in police.text
        assert "data-count" in (await scoped.get("/web/queue?source=nonsense&grid_id=G999")).text
        by_camera = await scoped.get("/web/queue?bucket=returned&source=camera")
        assert returned.case_id not in by_camera.text
        # G021 is not even offered as a filter to the scoped supervisor
        assert '<option value="G021"' not in page.text
        assert '<option value="G021"' in (await chief.get("/web/queue")).text

        # a case outside the grids: a 403 page on its case page and on its forms
        refused = await scoped.get(f"/web/cases/{elsewhere.case_id}")
        assert refused.status_code == 403
        assert 'data-reason="out_of_scope"' in refused.text
        assert (await chief.get(f"/web/cases/{elsewhere.case_id}")).status_code == 200


async def test_the_english_queue_and_a_clerk_kept_out(
    app: httpx.ASGITransport, sessions: SessionFactory
) -> None:
    async with browser(app) as web:
        await sign_in(web, await new_account(sessions, all_grids=True))
        web.cookies.set("gridplus_lang", "en")
        page = await web.get("/web/queue")
        assert "Returned by a department" in page.text and "Center queue" in page.text
        web.cookies.set("gridplus_lang", "zh")
        assert "部门退回" in (await web.get("/web/queue")).text
    async with browser(app) as clerk:
        await sign_in(clerk, await new_account(sessions, "department", "fire"))
        refused = await clerk.get("/web/queue")
        assert refused.status_code == 403 and 'data-reason="center_only"' in refused.text
    async with browser(app) as nobody:
        assert (await nobody.get("/web/queue")).headers["location"].startswith("/web/signin")


async def test_the_json_api_keeps_a_scoped_supervisor_to_their_grids(
    app: httpx.ASGITransport, sessions: SessionFactory, settings: Settings
) -> None:
    inside, outside = record("G007", "returned"), record("G021", "returned")
    await store(sessions, [inside, outside])
    scoped_name = await new_account(sessions, grids=TEN)
    head_name = await new_account(sessions, all_grids=True)
    scoped = bearer(settings, "supervisor", scoped_name)
    head = bearer(settings, "supervisor", head_name)
    machine = bearer(settings, "supervisor", "wall-board")  # no account: the whole town
    async with browser(app) as api:
        listed = await api.get("/cases?status=returned&limit=500", headers=scoped)
        ids = {item["case_id"] for item in listed.json()["items"]}
        assert inside.case_id in ids and outside.case_id not in ids
        assert all(item["grid_id"] in TEN for item in listed.json()["items"])
        for who in (head, machine):
            everything = await api.get("/cases?status=returned&limit=500", headers=who)
            assert outside.case_id in {item["case_id"] for item in everything.json()["items"]}

        assert (await api.get(f"/cases/{outside.case_id}", headers=scoped)).status_code == 403
        assert (await api.get(f"/cases/{inside.case_id}", headers=scoped)).status_code == 200
        timeline = await api.get(f"/cases/{outside.case_id}/timeline", headers=scoped)
        assert timeline.status_code in (403, 404)  # no timeline rows: 404 before the scope
        urge = await api.post(
            f"/supervisors/cases/{outside.case_id}/urge", json={"note": "快"}, headers=scoped
        )
        assert urge.status_code == 403 and "outside the grids" in urge.text
        # merging a case of her grids into one outside them: refused as well
        merge = await api.post(
            f"/supervisors/cases/{inside.case_id}/merge",
            json={"target_case_id": outside.case_id, "reason": "重复"},
            headers=scoped,
        )
        assert merge.status_code == 403 and outside.case_id in merge.text
        # the head is not stopped by the scope: the case's own answer (no workflow here)
        head_urge = await api.post(
            f"/supervisors/cases/{outside.case_id}/urge", json={"note": "快"}, headers=head
        )
        assert head_urge.status_code != 403
