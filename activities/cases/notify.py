"""Messages to stewards (through the chat-bot gateway) and to departments.

Every message is written to the ``notification`` table first, keyed by case, timeline
position, kind and recipient, then delivered through the recipient's outbox queue
(``activities.messaging.delivery``): in the order messages were queued for that steward or
department, whichever case queued them; a retried activity does not send again what is
marked delivered, and with no gateway configured the table is the inbox (demo and tests
read it). Over HTTP delivery is at-least-once: if the worker dies after the gateway took a
message but before the 200 came back, the message is sent again with the same
``Idempotency-Key`` (its ``message_id``), and the gateway contract is to answer a repeated
key without relaying it (``tools.fake_gateway`` does; so must a town's real gateway).
A 4xx answer is final and recorded: it must not wedge the case nor the recipient's queue.

Two activities per recipient kind. The *enqueue* step (``enqueue_*_message``, a local
activity of the case workflow since patch ``outbox-at-rest-v1``) stores the message and tries to
deliver the queue up to it; it answers whether all of that went out, and never fails on a
refused delivery, so a case queues its next messages at once during a gateway outage. The
*deliver* step (``notify_*``, a regular activity with Temporal's retry policy, and the only
step of cases started before the patch) does the same but fails while the gateway refuses,
so Temporal retries it: a message is late, never lost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from temporalio import activity

from activities.messaging.delivery import deliver_once
from activities.messaging.gateways import Gateway
from constants import (
    ACT_ENQUEUE_DEPARTMENT,
    ACT_ENQUEUE_STEWARD,
    ACT_NOTIFY_DEPARTMENT,
    ACT_NOTIFY_STEWARD,
)
from schemas.cases.catalog import default_catalog
from schemas.cases.dispatch import DepartmentMessage, StewardMessage
from schemas.platform.tables import DepartmentRow
from schemas.stewards.tables import Steward
from services.platform.db import SessionFactory
from services.platform.messages import (
    case_type_name,
    map_url,
    render_department,
    render_steward,
)
from services.platform.tokens import action_token
from services.worktime.text import deadline_text

STEWARDS: Table = Steward.__table__  # type: ignore[attr-defined]
DEPARTMENTS: Table = DepartmentRow.__table__  # type: ignore[attr-defined]

STEWARD_ACTIONS = {
    "new_task": ("accept", "decline"),
    "confirm_task": ("accept", "decline"),
    "reminder": ("arrived", "resolved", "escalate"),
    "verify_request": ("verify_pass", "verify_fail"),
}


class NotifyActivities:
    """Renders and delivers messages; built once per worker."""

    def __init__(
        self,
        session_factory: SessionFactory,
        gateway: Gateway,
        bot_secret: str,
        bot_url: str | None,
        department_url: str | None,
    ) -> None:
        self._sessions = session_factory
        self._gateway = gateway
        self._secret = bot_secret
        self._bot_url = bot_url
        self._department_url = department_url

    @activity.defn(name=ACT_ENQUEUE_STEWARD)
    async def enqueue_steward_message(self, message: StewardMessage) -> bool:
        """Store, try to deliver; False if the gateway refused (the deliver step follows)."""
        return await self._steward(message, raise_refusal=False)

    @activity.defn(name=ACT_NOTIFY_STEWARD)
    async def notify_steward(self, message: StewardMessage) -> None:
        """Store (once) and deliver; fails while the gateway refuses, so Temporal retries."""
        await self._steward(message, raise_refusal=True)

    @activity.defn(name=ACT_ENQUEUE_DEPARTMENT)
    async def enqueue_department_message(self, message: DepartmentMessage) -> bool:
        """Store, try to deliver; False if the endpoint refused (the deliver step follows)."""
        return await self._department(message, raise_refusal=False)

    @activity.defn(name=ACT_NOTIFY_DEPARTMENT)
    async def notify_department(self, message: DepartmentMessage) -> None:
        """Store (once) and deliver; fails while the endpoint refuses, so Temporal retries."""
        await self._department(message, raise_refusal=True)

    async def _steward(self, message: StewardMessage, *, raise_refusal: bool) -> bool:
        async with self._sessions() as session:
            language = (
                await session.execute(
                    select(STEWARDS.c.language).where(STEWARDS.c.id == message.steward_id)
                )
            ).scalar_one_or_none() or "zh"
        context = {
            "case_id": message.case_id,
            "case_type_name": case_type_name(message.case_type, language),
            "description": message.description,
            "map_url": map_url(message.location),
            "distance": "-",
            "deadline": deadline_text(message.deadline, message.deadline_span, language),
            "reason": message.reason or "",
            "merged_into": message.merged_into or "",
        }
        actions = STEWARD_ACTIONS.get(message.kind, ())
        if message.kind in ("new_task", "confirm_task"):
            actions = (*actions, "arrived", "resolved", "escalate")
        if message.kind in ("new_task", "reminder"):  # the steward handling it may ask 缓办
            actions = (*actions, "suspend")
        key = f"{message.case_id}:{message.seq}:{message.kind}:{message.steward_id}"
        payload = {
            "message_id": key,
            "steward_id": message.steward_id,
            "case_id": message.case_id,
            "attempt": message.attempt,
            "kind": message.kind,
            "language": language,
            "text": render_steward(message.kind, language, context),
            "actions": [
                {
                    "action": name,
                    "token": action_token(
                        self._secret, message.case_id, message.steward_id, message.attempt, name
                    ),
                }
                for name in actions
            ],
            "location": message.location.model_dump(),
            "deadline": message.deadline.isoformat() if message.deadline else None,
        }
        if message.kind == "case_cancelled":  # which end, and why, for the gateway's own use
            payload["ended"] = "merged" if message.merged_into else "cancelled"
            payload["reason"] = message.reason
            payload["merged_into"] = message.merged_into
        return await self._deliver(
            key,
            "bot",
            message.steward_id,
            message.case_id,
            message.kind,
            payload,
            self._bot_url,
            raise_refusal=raise_refusal,
        )

    async def _department(self, message: DepartmentMessage, *, raise_refusal: bool) -> bool:
        async with self._sessions() as session:
            endpoint = (
                await session.execute(
                    select(DEPARTMENTS.c.endpoint).where(DEPARTMENTS.c.code == message.department)
                )
            ).scalar_one_or_none()
        department = default_catalog().department(message.department)
        name = department.name_zh if department else message.department
        context = {
            "department_name": name,
            "case_id": message.case_id,
            "case_type_name": case_type_name(message.case_type, "zh"),
            "priority": message.priority,
            "deadline": deadline_text(message.deadline, message.deadline_span, "zh"),
            "description": message.description,
        }
        key = f"{message.case_id}:{message.seq}:{message.kind}:{message.department}"
        payload = {
            "message_id": key,
            "department": message.department,
            "case_id": message.case_id,
            "kind": message.kind,
            "text": render_department(message.kind, context),
            "case": message.model_dump(mode="json"),
        }
        url = endpoint or self._department_url
        return await self._deliver(
            key,
            "department",
            message.department,
            message.case_id,
            message.kind,
            payload,
            url,
            raise_refusal=raise_refusal,
        )

    async def _deliver(
        self,
        key: str,
        channel: str,
        recipient: str,
        case_id: str,
        kind: str,
        payload: dict[str, Any],
        url: str | None,
        *,
        raise_refusal: bool,
    ) -> bool:
        return await deliver_once(
            self._sessions,
            self._gateway,
            key,
            channel,
            recipient,
            case_id,
            kind,
            payload,
            url,
            raise_refusal=raise_refusal,
        )
