"""Steward presence from the chat-bot gateway: check-in/out, busy, location pings.

Dispatch ranks stewards by where they are and whether they are on duty, so these events
move the registry row (and its ``updated_at``, which each worker's nearest-steward index
follows). Pings arrive out of order on mobile networks: a location older than the one we
hold is ignored, and events stamped in the future or older than a day are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, or_

from schemas.bot import PresenceAnswer, PresenceEvent
from schemas.tables import Steward
from services.bot import CallbackRejected
from services.db import SessionFactory

MAX_FUTURE = timedelta(minutes=5)
MAX_AGE = timedelta(days=1)
DUTY_BY_KIND = {"check_in": "on_duty", "check_out": "off_duty", "busy": "busy"}


async def apply_presence(sessions: SessionFactory, event: PresenceEvent) -> PresenceAnswer:
    now = datetime.now(UTC)
    if event.at > now + MAX_FUTURE:
        raise CallbackRejected(422, "invalid", "body.at: in the future", ["body.at"])
    if event.at < now - MAX_AGE:
        raise CallbackRejected(422, "invalid", "body.at: older than a day", ["body.at"])
    if event.kind == "location" and event.location is None:
        raise CallbackRejected(
            422, "invalid", "body.location: required for a ping", ["body.location"]
        )
    applied = False
    async with sessions() as session, session.begin():
        steward = await session.get(Steward, event.steward_id)
        if steward is None:
            raise CallbackRejected(404, "not_found", f"no steward {event.steward_id}")
        values: dict[str, Any] = {"updated_at": now}
        if event.kind in DUTY_BY_KIND:
            values["duty_state"] = DUTY_BY_KIND[event.kind]
        await session.execute(
            update(Steward)
            .where(col(Steward.id) == event.steward_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if event.location is not None:
            newer = await session.execute(
                update(Steward)
                .where(
                    col(Steward.id) == event.steward_id,
                    or_(col(Steward.location_at).is_(None), col(Steward.location_at) < event.at),
                )
                .values(lat=event.location.lat, lon=event.location.lon, location_at=event.at)
                .execution_options(synchronize_session=False)
            )
            applied = newer.rowcount == 1  # type: ignore[attr-defined]
        await session.refresh(steward)
    return PresenceAnswer(
        steward_id=steward.id, duty_state=steward.duty_state, location_applied=applied
    )
