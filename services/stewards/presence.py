"""Steward presence from the chat-bot gateway: check-in/out, busy, location pings.

Dispatch ranks stewards by where they are and whether they are on duty, so these events
move the registry row (and its ``updated_at``, which each worker's nearest-steward index
follows). Three rules keep a late or replayed event from putting anyone back on duty:

1. each ``request_id`` acts once, as with button presses (``services.stewards.bot``): the id goes
   into ``bot_request`` in the same transaction that applies the event, and a repeat gets
   the stored answer (a different steward or kind under the same id is a 409);
2. a duty change (check-in, check-out, busy) is applied only if its ``at`` is newer than
   the steward's ``duty_changed_at``, compared inside the conditional ``UPDATE``, so two
   API replicas agree on the order whatever order the requests reach them in;
3. a location ping likewise only if newer than the location we hold.

Events stamped in the future or older than a day are refused. Times are compared in UTC
(SQLite stores them as text, so a ``+08:00`` stamp must not be compared as written).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_

from schemas.stewards.bot import PresenceAnswer, PresenceEvent
from schemas.stewards.tables import BotRequest, Steward
from services.platform.db import SessionFactory, upsert_insert
from services.stewards.bot import CallbackRejected
from services.stewards.bot_requests import PRUNER, BotRequestPruner

MAX_FUTURE = timedelta(minutes=5)
MAX_AGE = timedelta(days=1)
DUTY_BY_KIND = {"check_in": "on_duty", "check_out": "off_duty", "busy": "busy"}
NO_CASE = ""  # presence rows in ``bot_request`` name no case (a callback always does)


@dataclass(frozen=True)
class PresenceHandled:
    """The answer to a presence event and whether it was replayed from ``bot_request``."""

    answer: PresenceAnswer
    replayed: bool


def _check(event: PresenceEvent, now: datetime) -> None:
    if event.at > now + MAX_FUTURE:
        raise CallbackRejected(422, "invalid", "body.at: in the future", ["body.at"])
    if event.at < now - MAX_AGE:
        raise CallbackRejected(422, "invalid", "body.at: older than a day", ["body.at"])
    if event.kind == "location" and event.location is None:
        raise CallbackRejected(
            422, "invalid", "body.location: required for a ping", ["body.location"]
        )


async def apply_presence(
    sessions: SessionFactory, event: PresenceEvent, pruner: BotRequestPruner = PRUNER
) -> PresenceHandled:
    """Apply ``event`` once (see the module docstring); the answer and whether replayed."""
    now = datetime.now(UTC)
    _check(event, now)
    async with sessions() as session, session.begin():
        if await session.get(Steward, event.steward_id) is None:
            raise CallbackRejected(404, "not_found", f"no steward {event.steward_id}")
        if not await _claim(session, event, now):
            row = await session.get(BotRequest, event.request_id)
            assert row is not None  # the claim failed because it exists
            handled = PresenceHandled(_stored(row, event), replayed=True)
        else:
            answer = await _apply(session, event, now)
            await session.execute(
                update(BotRequest)
                .where(col(BotRequest.request_id) == event.request_id)
                .values(answer=answer.model_dump(mode="json"))
                .execution_options(synchronize_session=False)
            )
            handled = PresenceHandled(answer, replayed=False)
    await pruner.maybe_prune(sessions)
    return handled


async def _claim(session: AsyncSession, event: PresenceEvent, now: datetime) -> bool:
    """Insert the request id; False when it was already there (a repeat, or a race lost).

    On PostgreSQL a concurrent copy waits here until the first commits, then finds its row.
    """
    insert = upsert_insert(session.get_bind().dialect.name)
    result = await session.execute(
        insert(BotRequest)
        .values(
            request_id=event.request_id,
            steward_id=event.steward_id,
            case_id=NO_CASE,
            action=event.kind,
            received_at=now,
            answer={},
        )
        .on_conflict_do_nothing(index_elements=["request_id"])
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def _stored(row: BotRequest, event: PresenceEvent) -> PresenceAnswer:
    if (row.steward_id, row.case_id, row.action) != (event.steward_id, NO_CASE, event.kind):
        raise CallbackRejected(
            409, "conflict", "request_id was already used for a different steward or event"
        )
    return PresenceAnswer.model_validate(row.answer)


async def _apply(session: AsyncSession, event: PresenceEvent, now: datetime) -> PresenceAnswer:
    at = event.at.astimezone(UTC)
    duty_applied = False
    if event.kind in DUTY_BY_KIND:
        changed = await session.execute(
            update(Steward)
            .where(
                col(Steward.id) == event.steward_id,
                or_(col(Steward.duty_changed_at).is_(None), col(Steward.duty_changed_at) < at),
            )
            .values(duty_state=DUTY_BY_KIND[event.kind], duty_changed_at=at, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        duty_applied = int(getattr(changed, "rowcount", 0) or 0) == 1
    location_applied = False
    if event.location is not None:
        lat, lon = event.location.wgs84()  # a phone's map app may send gcj02 or bd09
        moved = await session.execute(
            update(Steward)
            .where(
                col(Steward.id) == event.steward_id,
                or_(col(Steward.location_at).is_(None), col(Steward.location_at) < at),
            )
            .values(lat=lat, lon=lon, location_at=at, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        location_applied = int(getattr(moved, "rowcount", 0) or 0) == 1
    steward = await session.get(Steward, event.steward_id, populate_existing=True)
    assert steward is not None  # checked above, in this transaction
    return PresenceAnswer(
        request_id=event.request_id,
        steward_id=steward.id,
        duty_state=steward.duty_state,
        duty_applied=duty_applied,
        location_applied=location_applied,
    )
