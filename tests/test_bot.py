"""Chat-bot round trips: worker -> fake gateway (real HTTP) -> signed callback -> API -> case.

The worker here is the production one on its own task queue, with ``bot_gateway_url``
pointing at ``tools.fake_gateway``; the session worker keeps ``bot_gateway_url=None``.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from constants import case_workflow_id
from schemas.cases.workflow import OpenCaseInput
from services.cases.operations import start_case
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.platform.tokens import action_token
from services.stewards.bot import idempotency_key
from settings import Settings
from tests.security_support import gateway_headers
from tests.support import case_input, count_rows, grid_point, place_stewards, track, wait_for
from tools.fake_gateway import FakeGateway, Message
from tools.steward_sim import StewardSim
from worker import build_worker

pytestmark = pytest.mark.usefixtures("worker", "off_duty")

BOT_QUEUE = "gridplus-test-bot"


@pytest.fixture(scope="module")
async def gateway(settings: Settings) -> AsyncIterator[FakeGateway]:
    async with FakeGateway(settings.bot_secret.get_secret_value()) as fake:
        yield fake


@pytest.fixture(scope="module")
def bot_settings(settings: Settings, gateway: FakeGateway) -> Settings:
    return settings.model_copy(update={"bot_gateway_url": gateway.url, "task_queue": BOT_QUEUE})


@pytest.fixture(scope="module")
async def bot_worker(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    bot_settings: Settings,
) -> AsyncIterator[Worker]:
    async with build_worker(env.client, sessions, http, bot_settings, task_queue=BOT_QUEUE) as w:
        yield w


@pytest.fixture
async def api(
    env: WorkflowEnvironment, sessions: SessionFactory, bot_settings: Settings, bot_worker: Worker
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(bot_settings, temporal=env.client, sessions=sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gridplus") as client:
            yield client


@pytest.fixture
def secret(settings: Settings) -> str:
    return settings.bot_secret.get_secret_value()


async def open_bot_case(env: WorkflowEnvironment, inp: OpenCaseInput) -> WorkflowHandle[Any, Any]:
    await start_case(env.client, inp, BOT_QUEUE)
    track(inp.case_id)
    return env.client.get_workflow_handle(case_workflow_id(inp.case_id))


async def offer(gateway: FakeGateway, case_id: str, steward_id: str) -> Message:
    return await gateway.wait_for(
        lambda m: (
            m["case_id"] == case_id and m["steward_id"] == steward_id and m["kind"] == "new_task"
        )
    )


def press(message: Message, action: str, **extra: Any) -> dict[str, Any]:
    """The callback a gateway sends when the steward presses ``action`` in ``message``."""
    token = next(a["token"] for a in message["actions"] if a["action"] == action)
    return {
        "request_id": f"rq-{uuid.uuid4().hex}",
        "steward_id": message["steward_id"],
        "case_id": message["case_id"],
        "attempt": message["attempt"],
        "action": action,
        "token": token,
        **extra,
    }


async def post(
    api: httpx.AsyncClient,
    secret: str,
    payload: dict[str, Any] | bytes,
    ts: float | None = None,
    signature: str | None = None,
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = gateway_headers(secret, body, signed_at=ts, signature=signature)
    return await api.post("/bot/callback", content=body, headers=headers)


async def test_round_trip_in_the_stewards_language(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,
    api: httpx.AsyncClient,
    secret: str,
) -> None:
    at = grid_point(grids, "G070")
    [s1] = await place_stewards(sessions, grids, at, 1)
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE steward SET language = 'en' WHERE id = :s"), {"s": s1})
    inp = case_input(grids, "illegal_parking", at, "van on the pavement")
    handle = await open_bot_case(env, inp)

    message = await offer(gateway, inp.case_id, s1)
    assert message["language"] == "en"
    assert message["text"].startswith("[New task] Illegal parking")
    tokens = {a["action"]: a["token"] for a in message["actions"]}
    assert {"accept", "decline"} <= tokens.keys()
    assert tokens["accept"] == action_token(secret, inp.case_id, s1, message["attempt"], "accept")

    accepted = await post(api, secret, press(message, "accept"))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["result"] == "accepted"
    assert accepted.json()["case_status"] == "accepted"
    assert accepted.json()["message"].startswith(f"You have taken case {inp.case_id}")
    await wait_for(handle, lambda v: v.status == "accepted")

    done = press(message, "resolved", note="van moved", photo_url="https://img.example/1.jpg")
    resolved = await post(api, secret, done)
    assert (resolved.status_code, resolved.json()["result"]) == (200, "accepted")
    case = await wait_for(handle, lambda v: v.status == "resolved")
    entry = case.timeline[-1]
    assert (entry.kind, entry.actor and entry.actor.id, entry.note) == ("resolved", s1, "van moved")
    assert [e.url for e in entry.evidence] == ["https://img.example/1.jpg"]
    rows = "SELECT count(*) FROM bot_request WHERE case_id = :c"
    assert await count_rows(sessions, rows, c=inp.case_id) == 2


async def test_signature_timestamp_size_and_shape_are_checked_before_anything_acts(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,
    api: httpx.AsyncClient,
    secret: str,
) -> None:
    at = grid_point(grids, "G071")
    [s1] = await place_stewards(sessions, grids, at, 1)
    inp = case_input(grids, "illegal_parking", at)
    handle = await open_bot_case(env, inp)
    payload = press(await offer(gateway, inp.case_id, s1), "accept")

    forged = await post(api, secret, payload, signature="v1=" + "0" * 64)
    assert forged.status_code == 401
    assert "signature" in forged.json()["message"]
    assert (await post(api, "someone-elses-secret", payload)).status_code == 401
    missing = await api.post("/bot/callback", json=payload)
    assert (missing.status_code, missing.json()["error"]) == (401, "unauthorized")
    stale = await post(api, secret, payload, ts=time.time() - 400)
    assert stale.status_code == 401
    assert stale.json()["message"].startswith("stale timestamp")
    future = await post(api, secret, payload, ts=time.time() + 400)
    assert (future.status_code, "future" in future.json()["message"]) == (401, True)

    big = await post(api, secret, json.dumps({**payload, "note": "x" * 70_000}).encode())
    assert big.status_code == 413
    no_note = await post(api, secret, {**payload, "action": "resolved"})
    assert (no_note.status_code, no_note.json()["fields"]) == (422, ["body.note"])
    bad = await post(api, secret, {**payload, "attempt": "first", "surprise": 1})
    assert bad.status_code == 422
    assert sorted(bad.json()["fields"]) == ["body.attempt", "body.surprise"]

    assert (await wait_for(handle, lambda v: True)).status == "dispatched"
    assert (
        await count_rows(
            sessions, "SELECT count(*) FROM bot_request WHERE case_id = :c", c=inp.case_id
        )
        == 0
    )


async def test_replayed_request_id_gets_the_stored_answer_and_acts_once(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,
    api: httpx.AsyncClient,
    secret: str,
) -> None:
    at = grid_point(grids, "G072")
    [s1] = await place_stewards(sessions, grids, at, 1)
    inp = case_input(grids, "garbage", at)
    handle = await open_bot_case(env, inp)
    message = await offer(gateway, inp.case_id, s1)

    early = press(message, "arrived")  # before accepting: refused, and the refusal is stored
    first_early = await post(api, secret, early)
    assert (first_early.json()["result"], first_early.json()["code"]) == (
        "rejected",
        "not_accepted",
    )
    accept = press(message, "accept")
    first = await post(api, secret, accept)
    again = await post(api, secret, accept, ts=time.time() + 1)  # re-signed, same request
    assert first.json()["result"] == "accepted"
    assert again.json() == first.json()
    assert (first.headers["x-gridplus-replayed"], again.headers["x-gridplus-replayed"]) == (
        "false",
        "true",
    )
    # replayed after the case moved on: still the stored refusal, still no arrival recorded
    assert (await post(api, secret, early)).json() == first_early.json()
    reused = await post(
        api, secret, {**press(message, "decline"), "request_id": accept["request_id"]}
    )
    assert reused.status_code == 409

    case = await wait_for(handle, lambda v: v.status == "accepted")
    kinds = [e.kind for e in case.timeline]
    assert kinds.count("accepted") == 1
    assert "arrived" not in kinds
    assert (
        await count_rows(
            sessions,
            "SELECT count(*) FROM bot_request WHERE request_id = :r",
            r=accept["request_id"],
        )
        == 1
    )


async def test_a_steward_cannot_use_another_stewards_token(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,
    api: httpx.AsyncClient,
    secret: str,
) -> None:
    at = grid_point(grids, "G073")
    s1, s2 = await place_stewards(sessions, grids, at, 2)
    inp = case_input(grids, "illegal_parking", at)
    handle = await open_bot_case(env, inp)
    accept = press(await offer(gateway, inp.case_id, s1), "accept")

    for forged in (
        {**accept, "steward_id": s2},
        {**accept, "action": "decline"},
        {**accept, "attempt": accept["attempt"] + 1},
    ):
        response = await post(api, secret, forged)
        assert (response.status_code, response.json()["error"]) == (403, "forbidden")
    case = await wait_for(handle, lambda v: True)
    assert (case.status, case.steward_id) == ("dispatched", s1)


async def test_late_accept_after_reassignment_is_a_polite_too_late(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,
    api: httpx.AsyncClient,
    secret: str,
) -> None:
    at = grid_point(grids, "G074")
    s1, s2 = await place_stewards(sessions, grids, at, 2)
    inp = case_input(grids, "illegal_parking", at)
    handle = await open_bot_case(env, inp)
    first_offer = await offer(gateway, inp.case_id, s1)

    await env.sleep(inp.policy.case_type.sla.accept + timedelta(seconds=5))
    await wait_for(handle, lambda v: v.status == "dispatched" and v.steward_id == s2)
    await gateway.wait_for(lambda m: m["case_id"] == inp.case_id and m["kind"] == "reassigned")
    late = await post(api, secret, press(first_offer, "accept"))
    assert late.status_code == 200
    answer = late.json()
    assert (answer["result"], answer["code"]) == ("too_late", "too_late")
    assert answer["message"] == (
        f"案件 {inp.case_id} 已超过接单时限，已转派给其他管家，您无需再处理。感谢您的关注！"
    )
    second_offer = await offer(gateway, inp.case_id, s2)
    assert second_offer["attempt"] > first_offer["attempt"]
    assert (await wait_for(handle, lambda v: True)).steward_id == s2


async def test_gateway_outage_delays_the_message_but_delivers_it_once(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,
    bot_worker: Worker,
) -> None:
    at = grid_point(grids, "G075")
    await place_stewards(sessions, grids, at, 1)
    inp = case_input(grids, "illegal_parking", at)
    gateway.fail_next(2, match=lambda m: m["case_id"] == inp.case_id)
    await open_bot_case(env, inp)

    message = await gateway.wait_for(lambda m: m["case_id"] == inp.case_id, seconds=30)
    assert [m["message_id"] for m in gateway.failed if m["case_id"] == inp.case_id] == [
        message["message_id"]
    ] * 2
    assert len(gateway.received(lambda m: m["message_id"] == message["message_id"])) == 1
    sql = "SELECT count(*) FROM notification WHERE key = :k AND delivered_at IS NOT NULL"
    for _ in range(200):  # the activity records the delivery once the gateway answered 200
        if await count_rows(sessions, sql, k=message["message_id"]):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the delivery was never recorded")


async def test_steward_sim_accepts_and_resolves(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,
    api: httpx.AsyncClient,
    secret: str,
) -> None:
    import random

    sim = StewardSim(api, secret, random.Random(1), decline_rate=0, ignore_rate=0, speed=400)
    gateway.on_message = sim.on_message
    try:
        at = grid_point(grids, "G076")
        await place_stewards(sessions, grids, at, 1)
        handle = await open_bot_case(env, case_input(grids, "garbage", at))
        case = await wait_for(handle, lambda v: v.status == "resolved")
        await sim.settle()  # the sim reads its last answer after the case moved on
    finally:
        gateway.on_message = None
        await sim.close()
    assert [e.kind for e in case.timeline][-3:] == ["accepted", "arrived", "resolved"]
    assert sim.stats["accept:accepted"] == sim.stats["resolved:accepted"] == 1


async def test_steward_sim_stops_cleanly_on_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.steward_sim",
        "--port",
        "0",
        "--api",
        "http://127.0.0.1:9",
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    async with asyncio.timeout(20):
        while b"listening" not in await process.stderr.readline():
            pass
        process.send_signal(signal.SIGTERM)
        rest = await process.stderr.read()
        assert await process.wait() == 0
    assert b"done:" in rest


def test_update_ids_from_request_ids_are_valid_and_distinct() -> None:
    ids = ["rq-1", "1", "a/b", "a_b", "a b", "消息-42", "x" * 128, "x" * 127 + "y"]
    keys = [idempotency_key(i) for i in ids]
    assert keys[0] == "bot-rq-1"
    assert len(set(keys)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_.:-]{8,128}", k) for k in keys), keys
