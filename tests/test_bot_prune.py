"""``bot_request`` is pruned past the replay window, and a replay inside it still works.

Rows are written as ``services.stewards.bot`` writes them; the callback goes through the real app
(signature, token, stored answer). A replayed request never reaches Temporal, so no worker
is needed here.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

from schemas.stewards.tables import BotRequest
from services.platform.db import SessionFactory
from services.platform.tokens import action_token, sign_body
from services.stewards import bot, bot_requests
from settings import Settings
from tests.security_support import Clock, gateway_headers, running_app
from tests.support import count_rows

STEWARD, CASE = "S-prune", "GP-PRUNE0000001"


@pytest.fixture
async def api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(env, sessions, settings) as running:
        yield running.client


async def remember(sessions: SessionFactory, request_id: str, received_at: datetime) -> None:
    """An answered callback, as ``services.stewards.bot`` stores it."""
    answer = {"request_id": request_id, "result": "accepted", "code": None,
              "message": "已接单", "case_status": "accepted"}  # fmt: skip
    row = BotRequest(request_id=request_id, steward_id=STEWARD, case_id=CASE, action="accept",
                     received_at=received_at, answer=answer)  # fmt: skip
    async with sessions() as session, session.begin():
        session.add(row)


async def kept(sessions: SessionFactory, prefix: str) -> set[str]:
    ids = select(col(BotRequest.request_id)).where(col(BotRequest.request_id).like(f"{prefix}%"))
    async with sessions() as session:
        return set((await session.execute(ids)).scalars())


def test_the_replay_horizon_is_where_the_timestamp_check_stops_a_copy() -> None:
    """Signed MAX_SKEW ahead of our clock (the latest we accept), received at R: a copy
    passes the signature check until R + 2 * MAX_SKEW, and never after."""
    secret, body = "s3cret", b"{}"
    received = 1_000_000.0
    stamp = str(int(received + bot_requests.MAX_SKEW))
    signature = sign_body(secret, stamp, body)
    bot.verify_signature(secret, stamp, signature, body, now=received)  # first delivery
    horizon = bot_requests.REPLAY_HORIZON.total_seconds()
    bot.verify_signature(secret, stamp, signature, body, now=received + horizon)
    with pytest.raises(bot.CallbackRejected) as stale:
        bot.verify_signature(secret, stamp, signature, body, now=received + horizon + 1)
    assert stale.value.status == 401
    assert bot_requests.BotRequestPruner().retention >= bot_requests.REPLAY_HORIZON
    # a retention set below the horizon is raised to it
    assert (
        bot_requests.BotRequestPruner(retention=timedelta(seconds=1)).retention
        == bot_requests.REPLAY_HORIZON
    )


async def test_old_rows_go_recent_rows_stay_at_most_once_per_interval(
    sessions: SessionFactory,
) -> None:
    prefix = f"rq-prune-{uuid.uuid4().hex[:8]}-"
    now = datetime.now(UTC)
    ages = {"2d": timedelta(days=2), "25h": timedelta(hours=25), "23h": timedelta(hours=23),
            "20m": timedelta(minutes=20), "1m": timedelta(minutes=1)}  # fmt: skip
    for name, age in ages.items():
        await remember(sessions, prefix + name, now - age)
    clock = Clock()
    pruner = bot_requests.BotRequestPruner(clock=clock)

    assert await pruner.maybe_prune(sessions) >= 2
    assert await kept(sessions, prefix) == {prefix + n for n in ("23h", "20m", "1m")}

    await remember(sessions, prefix + "3d", now - timedelta(days=3))
    clock.now += bot_requests.PRUNE_EVERY.total_seconds() - 1
    assert await pruner.maybe_prune(sessions) == 0  # not due yet: not even a query
    assert prefix + "3d" in await kept(sessions, prefix)
    clock.now += 1
    assert await pruner.maybe_prune(sessions) >= 1
    assert await kept(sessions, prefix) == {prefix + n for n in ("23h", "20m", "1m")}


async def test_a_backlog_is_pruned_in_batches_over_the_next_callbacks(
    sessions: SessionFactory,
) -> None:
    prefix = f"rq-backlog-{uuid.uuid4().hex[:8]}-"
    old = datetime.now(UTC) - timedelta(days=30)
    for n in range(5):
        await remember(sessions, f"{prefix}{n}", old)
    clock = Clock()
    pruner = bot_requests.BotRequestPruner(clock=clock, batch=3)
    deleted = [await pruner.maybe_prune(sessions) for _ in range(3)]
    assert deleted[0] == 3  # a full batch: the next callback goes on at once
    assert sum(deleted) >= 5 and await kept(sessions, prefix) == set()


async def test_a_failed_prune_never_fails_the_callback(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> int:
        raise OperationalError("DELETE", {}, Exception("database is locked"))

    monkeypatch.setattr(bot_requests, "prune_bot_requests", broken)
    clock = Clock()
    pruner = bot_requests.BotRequestPruner(clock=clock)
    assert await pruner.maybe_prune(sessions) == 0
    assert (
        pruner.next_at == clock.now + bot_requests.PRUNE_EVERY.total_seconds()
    )  # tried again later


async def test_a_callback_prunes_and_a_recent_replay_keeps_its_answer(
    api: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    prefix = f"rq-cb-{uuid.uuid4().hex[:8]}-"
    now = datetime.now(UTC)
    await remember(sessions, prefix + "old", now - timedelta(days=2))
    await remember(sessions, prefix + "recent", now - timedelta(minutes=1))
    bot_requests.PRUNER.next_at = 0.0  # due: this process has not pruned for a while

    secret = settings.bot_secret.get_secret_value()
    body = json.dumps({
        "request_id": prefix + "recent", "steward_id": STEWARD, "case_id": CASE, "attempt": 1,
        "action": "accept", "token": action_token(secret, CASE, STEWARD, 1, "accept"),
    }).encode()  # fmt: skip
    headers = gateway_headers(secret, body)
    replay = await api.post("/bot/callback", content=body, headers=headers)
    assert replay.status_code == 200, replay.text
    assert replay.headers["X-Gridplus-Replayed"] == "true"
    assert replay.json()["result"] == "accepted" and replay.json()["message"] == "已接单"
    assert await kept(sessions, prefix) == {prefix + "recent"}
    assert bot_requests.PRUNER.next_at > time.monotonic()  # not again for PRUNE_EVERY
    rows = "SELECT count(*) FROM bot_request WHERE request_id = :r"
    assert await count_rows(sessions, rows, r=prefix + "recent") == 1
