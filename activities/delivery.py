"""Write-then-deliver for every outgoing message (stewards, departments, inspectors).

The message is stored in ``notification`` under its key before it is sent; a retry finds
the row and does not send again what is marked delivered. Delivery over HTTP is
at-least-once (a worker that dies after the other side took the message, before the 200,
sends it again with the same ``Idempotency-Key``); a 4xx is final and recorded, so one bad
message cannot wedge a workflow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col
from temporalio import activity

from activities.gateways import DeliveryRejected, Gateway
from schemas.tables import Notification
from services.db import SessionFactory, upsert_insert


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
) -> None:
    """Store the message under ``key`` (once), then send it unless it was delivered."""
    async with sessions() as session, session.begin():
        insert = upsert_insert(session.get_bind().dialect.name)
        await session.execute(
            insert(Notification)
            .values(
                key=key,
                channel=channel,
                recipient=recipient,
                case_id=case_id,
                kind=kind,
                body=payload,
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )
        delivered = (
            await session.execute(
                select(col(Notification.delivered_at)).where(col(Notification.key) == key)
            )
        ).scalar_one()
    if delivered is not None or url is None:
        return
    outcome: dict[str, Any] = {}
    try:
        await gateway.deliver(url, payload)
    except DeliveryRejected as rejected:
        activity.logger.warning("message %s rejected: %s", key, rejected)
        outcome = {"rejected": str(rejected)[:500]}
    async with sessions() as session, session.begin():
        values: dict[str, Any] = {"delivered_at": datetime.now(UTC)}
        if outcome:
            values["body"] = {**payload, **outcome}
        await session.execute(
            update(Notification).where(col(Notification.key) == key).values(**values)
        )
