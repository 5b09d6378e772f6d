"""The outbox: every outgoing message (stewards, departments, inspectors), FIFO per recipient.

A message is first stored in ``notification`` under its key (case or inspection, timeline
position, kind, recipient: a retry stores it once); the database gives it its ``position``,
an auto-increment integer primary key (a rowid alias on SQLite, an identity column on
PostgreSQL; ``schemas.platform.tables.Notification``). Then the *recipient's* queue is drained up to
and including it: every row of the same ``(channel, recipient)`` not yet delivered, with a
position up to this one's, is POSTed in position order, each marked delivered after its
2xx. So a message can never overtake an older one for the same person, whichever case or
inspection queued either: after a gateway outage a steward gets their messages late, in
the order they were queued, none lost, none twice.

* A 4xx is final: the row is marked delivered with the answer recorded (``rejected``), and
  the drain goes on, so one bad message blocks neither its case nor the recipient's queue.
* A 5xx or a network error stops the drain: ``deliver_once`` raises (the activity fails,
  Temporal retries it), or with ``raise_refusal=False`` returns False and the caller (the
  case workflow's enqueue step, ``activities.cases.notify``) hands the rest to a retried activity.
* With no URL (no gateway configured, enterprises and the linkage center) the table is the
  inbox: the row is stored as delivered, and never pushed later.

Why the order holds with several drainers at once (across worker processes too), and why
``position`` is the primary key: ``docs/outbox-order.md``.

The URL is the one the caller resolves for the recipient now (the bot gateway, or the
department's endpoint); every pending row of that recipient goes there. The normal path
costs one transaction (insert, then the pending rows up to this one: usually just this
one), the POST, and one update.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, select, update
from temporalio import activity

from activities.messaging.gateways import DeliveryRejected, Gateway
from schemas.platform.tables import Notification
from services.platform.db import SessionFactory, upsert_insert

Recipient = tuple[str, str]  # (channel, recipient)

# One lock per recipient whose queue is being drained in this process; a lock lives while a
# drain holds or awaits it, so the dict stays as small as the drains in flight.
_draining: weakref.WeakValueDictionary[Recipient, asyncio.Lock] = weakref.WeakValueDictionary()

# Core statements on the table: no ORM compile state or unit of work on the hot path.
NOTIFICATIONS: Table = Notification.__table__  # type: ignore[attr-defined]


def recipient_lock(channel: str, recipient: str) -> asyncio.Lock:
    """The lock drains of ``(channel, recipient)`` take turns on inside this process."""
    lock = _draining.get((channel, recipient))
    if lock is None:
        lock = _draining[(channel, recipient)] = asyncio.Lock()
    return lock


def pending_up_to(channel: str, recipient: str, key: str) -> Any:
    """The recipient's undelivered rows up to the one keyed ``key``, oldest first."""
    mine = select(NOTIFICATIONS.c.position).where(NOTIFICATIONS.c.key == key).scalar_subquery()
    return (
        select(NOTIFICATIONS.c.position, NOTIFICATIONS.c.key, NOTIFICATIONS.c.body)
        .where(
            NOTIFICATIONS.c.channel == channel,
            NOTIFICATIONS.c.recipient == recipient,
            NOTIFICATIONS.c.delivered_at.is_(None),  # the partial index's condition
            NOTIFICATIONS.c.position <= mine,
        )
        .order_by(NOTIFICATIONS.c.position)
    )


def advisory_key(channel: str, recipient: str) -> int:
    """A signed 64-bit number for ``pg_advisory_xact_lock``: same recipient, same lock."""
    digest = hashlib.blake2b(f"{channel}\x00{recipient}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def deliver_once(
    sessions: SessionFactory,
    gateway: Gateway,
    key: str,
    channel: str,
    recipient: str,
    case_id: str,
    kind: str,
    payload: dict[str, Any],
    url: str | None,
    *,
    raise_refusal: bool = True,
) -> bool:
    """Store the message under ``key`` (once), then drain its recipient's queue up to it.

    True once it and every older message of the recipient are delivered (or rejected); a
    refusal (5xx, network) raises, or returns False with ``raise_refusal=False``.
    """
    row = {
        "key": key,
        "channel": channel,
        "recipient": recipient,
        "case_id": case_id,
        "kind": kind,
        "body": payload,
        "created_at": datetime.now(UTC),
    }
    if url is None:  # the table is the inbox: stored is delivered
        async with sessions() as session, session.begin():
            insert = upsert_insert(session.get_bind().dialect.name)
            row["delivered_at"] = row["created_at"]
            await session.execute(
                insert(NOTIFICATIONS).values(row).on_conflict_do_nothing(index_elements=["key"])
            )
        return True
    async with recipient_lock(channel, recipient):
        pending = await _store(sessions, row)
        return await _send(sessions, gateway, url, pending, raise_refusal)


async def _store(sessions: SessionFactory, row: dict[str, Any]) -> list[Any]:
    """Insert the row (once) and read the recipient's pending rows up to it, in order."""
    channel, recipient = row["channel"], row["recipient"]
    async with sessions() as session, session.begin():
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            # Positions come from a sequence, taken before commit: without this lock a
            # younger row of the recipient could commit (and be sent) before an older one.
            lock = func.pg_advisory_xact_lock(advisory_key(channel, recipient))
            await session.execute(select(lock))
        insert = upsert_insert(dialect)
        await session.execute(
            insert(NOTIFICATIONS).values(row).on_conflict_do_nothing(index_elements=["key"])
        )
        result = await session.execute(pending_up_to(channel, recipient, row["key"]))
        return list(result.all())


async def _send(
    sessions: SessionFactory,
    gateway: Gateway,
    url: str,
    pending: list[Any],
    raise_refusal: bool,
) -> bool:
    """POST each row in order, marking it delivered after its answer; stop at a refusal."""
    for position, key, body in pending:
        values: dict[str, Any] = {}
        try:
            await gateway.deliver(url, body)
        except DeliveryRejected as rejected:
            activity.logger.warning("message %s rejected: %s", key, rejected)
            values["body"] = {**body, "rejected": str(rejected)[:500]}
        except Exception as refused:
            if raise_refusal:
                raise
            activity.logger.info("message %s not delivered yet: %r", key, refused)
            return False
        values["delivered_at"] = datetime.now(UTC)
        async with sessions() as session, session.begin():
            await session.execute(
                update(NOTIFICATIONS).where(NOTIFICATIONS.c.position == position).values(values)
            )
    return True
