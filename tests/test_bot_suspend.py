"""A steward asks for a suspension (缓办) from the chat: the ``suspend`` button.

On the real API, worker, Temporal test server, DB and the fake gateway on loopback. The
offer carries a ``suspend`` token; after accepting, the steward's signed callback with a
reason code, a reason and a resume condition runs the same ``request_suspension`` update
as the departments' route (the timeline says so, with the steward as actor) and the
answer says the center decides, in the steward's language. A ``suspend`` without a reason
code is a 422 naming the field; asking twice is refused politely (the case is waiting).
"""

from __future__ import annotations

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.support import case_input, grid_point, place_stewards, view, wait_for
from tests.test_bot import (
    api,
    bot_settings,
    bot_worker,
    gateway,
    offer,
    open_bot_case,
    post,
    press,
    secret,
)
from tools.fake_gateway import FakeGateway

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
__all__ = ["api", "bot_settings", "bot_worker", "gateway", "secret"]


async def test_a_steward_asks_to_suspend_from_the_chat(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,
    api: httpx.AsyncClient,
    secret: str,
) -> None:
    at = grid_point(grids, "G071")
    [s1] = await place_stewards(sessions, grids, at, 1)
    inp = case_input(grids, "illegal_parking", at, "占道堆放")
    handle = await open_bot_case(env, inp)
    message = await offer(gateway, inp.case_id, s1)
    assert "suspend" in {a["action"] for a in message["actions"]}
    took = await post(api, secret, press(message, "accept"))
    assert took.status_code == 200 and took.json()["result"] == "accepted"
    await wait_for(handle, lambda v: v.status == "accepted")

    no_code = press(message, "suspend", note="等待业主清运", resume_condition="业主回来后")
    bad = await post(api, secret, no_code)
    assert bad.status_code == 422 and "reason_code" in bad.text

    ask = press(
        message,
        "suspend",
        note="等待业主清运",
        reason_code="other_authority",
        resume_condition="业主回来后",
    )
    answer = await post(api, secret, ask)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "accepted" and "缓办" in answer.json()["message"]
    last = (await view(handle)).timeline[-1]
    assert last.kind == "suspension_requested"
    assert last.actor == Actor(role="steward", id=s1)
    assert last.data == {"reason_code": "other_authority", "resume_condition": "业主回来后"}

    again = await post(api, secret, {**ask, "request_id": ask["request_id"] + "-2"})
    assert again.status_code == 200 and again.json()["result"] != "accepted"
    assert (await view(handle)).timeline[-1].seq == last.seq  # nothing more happened
