"""The outbox (``activities.messaging.delivery``): each recipient gets messages in queue order.

Direct tests of ``deliver_once`` against ``tools.fake_gateway`` over real HTTP: messages of
two cases for one steward, queued while the gateway refuses, arrive after it recovers in
outbox order and once each; a rejected (4xx) message is recorded and blocks nobody; drains
of one recipient never send a message twice; a row's position is only given while no other
writer holds the recipient (so positions follow commit order, on SQLite and PostgreSQL).
Then the case workflow on a worker that talks to the gateway: during an outage both cases
hand their messages to the outbox at once, a retried deliver step takes over, and after
the outage the steward gets them in outbox order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.messaging.delivery import NOTIFICATIONS, advisory_key, deliver_once
from activities.messaging.gateways import HttpGateway
from constants import ACT_NOTIFY_STEWARD, case_workflow_id
from schemas.cases.workflow import AcceptTask, ReportResolved, VerifyResult
from schemas.platform.common import Actor
from services.cases.operations import start_case
from services.platform.db import SessionFactory, make_engine
from services.platform.geo import GridIndex
from settings import Settings
from tests.support import (
    SUPERVISOR,
    case_input,
    grid_point,
    key,
    place_stewards,
    save_history,
    track,
    wait_for,
)
from tools.fake_gateway import FakeGateway
from worker import build_worker
from workflows.cases.workflow import CaseWorkflow

pytestmark = pytest.mark.usefixtures("worker", "off_duty")

OUTBOX_QUEUE = "gridplus-test-outbox"
FOREVER = 10**9


@pytest.fixture(scope="module")
async def gateway(settings: Settings) -> AsyncIterator[FakeGateway]:
    async with FakeGateway(settings.bot_secret.get_secret_value()) as fake:
        yield fake


@pytest.fixture
def bot(http: httpx.AsyncClient, settings: Settings) -> HttpGateway:
    return HttpGateway(http, settings.bot_secret.get_secret_value())


@pytest.fixture(scope="module")
async def outbox_worker(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    settings: Settings,
    gateway: FakeGateway,
) -> AsyncIterator[Worker]:
    """The production worker, its bot gateway the fake one, on a queue of its own."""
    bot_settings = settings.model_copy(
        update={"bot_gateway_url": gateway.url, "task_queue": OUTBOX_QUEUE}
    )
    async with build_worker(env.client, sessions, http, bot_settings, task_queue=OUTBOX_QUEUE) as w:
        yield w


class WrongSecretFor:
    """Signs the messages in ``bad`` with a wrong secret, so the gateway answers 401 (a 4xx)."""

    def __init__(self, http: httpx.AsyncClient, secret: str, bad: set[str]) -> None:
        self._good = HttpGateway(http, secret)
        self._wrong = HttpGateway(http, "not-the-secret")
        self._bad = bad

    async def deliver(self, url: str, payload: dict[str, Any]) -> None:
        chosen = self._wrong if payload["message_id"] in self._bad else self._good
        await chosen.deliver(url, payload)


class Outbox:
    """Messages for one new steward, queued through ``deliver_once`` as the activities do."""

    def __init__(self, sessions: SessionFactory, gateway: Any, url: str) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.url = url
        self.steward = f"O{uuid.uuid4().hex[:8]}"

    def key(self, case_id: str, seq: int) -> str:
        return f"{case_id}:{seq}:new_task:{self.steward}"

    async def put(
        self, case_id: str, seq: int, *, raise_refusal: bool = False, url: str | None = ""
    ) -> bool:
        key = self.key(case_id, seq)
        payload = {"message_id": key, "steward_id": self.steward, "case_id": case_id}
        return await deliver_once(
            self.sessions,
            self.gateway,
            key,
            "bot",
            self.steward,
            case_id,
            "new_task",
            payload,
            self.url if url == "" else url,
            raise_refusal=raise_refusal,
        )

    async def rows(self) -> list[Any]:
        table = NOTIFICATIONS
        async with self.sessions() as session:
            result = await session.execute(
                select(table.c.position, table.c.key, table.c.delivered_at, table.c.body)
                .where(table.c.channel == "bot", table.c.recipient == self.steward)
                .order_by(table.c.position)
            )
            return list(result.all())

    def arrived(self, gateway: FakeGateway) -> list[str]:
        mine = [m for m in gateway.messages if m.get("steward_id") == self.steward]
        return [str(m["message_id"]) for m in mine]


def case() -> str:
    return f"GP-O{uuid.uuid4().hex[:10].upper()}"


async def test_refused_messages_of_two_cases_arrive_in_queue_order_once(
    sessions: SessionFactory, gateway: FakeGateway, bot: HttpGateway
) -> None:
    outbox = Outbox(sessions, bot, gateway.url)
    a, b = case(), case()
    gateway.fail_next(FOREVER, match=lambda m: m.get("steward_id") == outbox.steward)
    queued = [(a, 2), (b, 2), (a, 5), (b, 3)]
    for case_id, seq in queued:  # the enqueue step: stored at once, refusal is no failure
        assert await outbox.put(case_id, seq) is False
    with pytest.raises(httpx.HTTPStatusError):  # the deliver step fails: Temporal retries
        await outbox.put(b, 2, raise_refusal=True)
    rows = await outbox.rows()
    assert [r.key for r in rows] == [outbox.key(c, s) for c, s in queued]  # position order
    assert all(r.delivered_at is None for r in rows)
    # every attempt sent the oldest pending message first, and got no further
    refused = {str(m["message_id"]) for m in gateway.failed if m["steward_id"] == outbox.steward}
    assert refused == {outbox.key(a, 2)}

    gateway.fail_next(0)
    # b's deliver step runs first: it takes a's older message along, and stops at its own
    assert await outbox.put(b, 2, raise_refusal=True) is True
    assert outbox.arrived(gateway) == [outbox.key(a, 2), outbox.key(b, 2)]
    # two drains of the rest at once (two cases' deliver steps): each message goes once
    assert list(await asyncio.gather(outbox.put(b, 3), outbox.put(a, 5))) == [True, True]
    assert outbox.arrived(gateway) == [outbox.key(c, s) for c, s in queued]
    assert all(r.delivered_at is not None for r in await outbox.rows())
    assert not [m for m in gateway.repeats if m["steward_id"] == outbox.steward]
    # a retried step finds everything delivered and sends nothing again
    assert await outbox.put(a, 2, raise_refusal=True) is True
    assert len(outbox.arrived(gateway)) == len(queued)


async def test_a_rejected_message_is_recorded_and_does_not_block_the_queue(
    sessions: SessionFactory, gateway: FakeGateway, http: httpx.AsyncClient, settings: Settings
) -> None:
    secret = settings.bot_secret.get_secret_value()
    outbox = Outbox(sessions, None, gateway.url)
    a, b = case(), case()
    outbox.gateway = WrongSecretFor(http, secret, {outbox.key(a, 3)})
    gateway.fail_next(FOREVER, match=lambda m: m.get("steward_id") == outbox.steward)
    for case_id, seq in [(a, 2), (a, 3), (b, 2)]:
        assert await outbox.put(case_id, seq) is False
    gateway.fail_next(0)
    assert await outbox.put(b, 2, raise_refusal=True) is True
    assert outbox.arrived(gateway) == [outbox.key(a, 2), outbox.key(b, 2)]
    rows = {r.key: r for r in await outbox.rows()}
    rejected = rows[outbox.key(a, 3)]
    assert rejected.delivered_at is not None  # final: never sent again
    assert "401" in rejected.body["rejected"]
    # a rejected message queued while the gateway is up is final at once, too
    assert await outbox.put(a, 3, raise_refusal=True) is True
    assert await outbox.put(b, 4) is True
    assert outbox.arrived(gateway)[-1] == outbox.key(b, 4)


async def test_without_a_url_the_table_is_the_inbox(
    sessions: SessionFactory, gateway: FakeGateway, bot: HttpGateway
) -> None:
    outbox = Outbox(sessions, bot, gateway.url)
    a = case()
    assert await outbox.put(a, 2, url=None) is True
    [row] = await outbox.rows()
    assert row.delivered_at is not None  # stored is delivered: never pushed later
    assert await outbox.put(a, 3) is True
    assert outbox.arrived(gateway) == [outbox.key(a, 3)]


async def test_a_position_is_given_only_once_other_writers_of_the_recipient_committed(
    sessions: SessionFactory,
    database_url: str,
    is_postgres: bool,
    gateway: FakeGateway,
    bot: HttpGateway,
) -> None:
    """PostgreSQL: the recipient's advisory lock; SQLite: the database's one writer."""
    outbox = Outbox(sessions, bot, gateway.url)
    release, held = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        if is_postgres:
            engine = make_engine(database_url)
            async with engine.begin() as connection:
                lock = func.pg_advisory_xact_lock(advisory_key("bot", outbox.steward))
                await connection.execute(select(lock))
                held.set()
                await release.wait()
            await engine.dispose()
            return
        path = make_url(database_url).database
        assert path is not None
        async with aiosqlite.connect(path, isolation_level=None) as connection:
            await connection.execute("BEGIN IMMEDIATE")
            held.set()
            await release.wait()
            await connection.execute("COMMIT")

    holder = asyncio.create_task(hold())
    await held.wait()
    writer = asyncio.create_task(outbox.put(case(), 2))
    await asyncio.sleep(0.5)
    assert not writer.done()  # no position yet: the holder might still write an older row
    release.set()
    await holder
    assert await asyncio.wait_for(writer, 30) is True
    assert len(await outbox.rows()) == 1


async def test_cases_queue_at_once_during_an_outage_and_the_steward_gets_queue_order(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    gateway: FakeGateway,
    outbox_worker: Worker,
) -> None:
    at = grid_point(grids, "G033")
    [steward] = await place_stewards(sessions, grids, at, 1, capacity=2)
    outbox = Outbox(sessions, None, gateway.url)
    outbox.steward = steward
    gateway.fail_next(FOREVER, match=lambda m: m.get("steward_id") == steward)
    handles = []
    for _ in range(2):
        inp = case_input(grids, "illegal_parking", at)
        await start_case(env.client, inp, OUTBOX_QUEUE)
        workflow_id = case_workflow_id(track(inp.case_id))
        handle = env.client.get_workflow_handle_for(CaseWorkflow.run, workflow_id)
        await wait_for(handle, lambda v: v.status == "dispatched" and v.steward_id == steward)
        handles.append(handle)

    async def both_queued() -> list[Any]:
        for _ in range(400):
            rows = await outbox.rows()
            if len(rows) == 2:
                return rows
            await asyncio.sleep(0.05)
        raise AssertionError(f"queued: {await outbox.rows()}")

    rows = await both_queued()  # the second case did not wait for the first one's message
    assert [r.delivered_at for r in rows] == [None, None]
    for handle in handles:  # the refused message went to a retried deliver step
        for _ in range(200):
            if await scheduled(handle, ACT_NOTIFY_STEWARD):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no deliver step was scheduled")

    gateway.fail_next(0)
    await gateway.wait_for(lambda m: m["message_id"] == rows[1].key, seconds=30)
    assert outbox.arrived(gateway) == [r.key for r in rows]
    assert not [m for m in gateway.repeats if m["steward_id"] == steward]

    # the first case to the end: its deliver step done, the closing message sent as usual
    first = handles[0]
    by = Actor(role="steward", id=steward)
    await first.execute_update("accept_task", AcceptTask(actor=by, idempotency_key=key()))
    await first.execute_update(
        "report_resolved", ReportResolved(actor=by, idempotency_key=key(), note="已处理")
    )
    await wait_for(first, lambda v: v.waiting_for.startswith("verification"))
    await first.execute_update(
        "verify", VerifyResult(actor=SUPERVISOR, idempotency_key=key(), passed=True)
    )
    assert (await first.result()).status == "closed"
    closing = await gateway.wait_for(
        lambda m: m.get("kind") == "case_closed" and m.get("steward_id") == steward
    )
    assert outbox.arrived(gateway) == [*(r.key for r in rows), closing["message_id"]]
    await save_history(first, "outbox_gateway_down_closed")


async def scheduled(handle: WorkflowHandle[Any, Any], activity_type: str) -> bool:
    history = await handle.fetch_history()
    return any(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity_type
        for e in history.events
    )
