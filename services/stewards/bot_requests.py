"""The answered-callback table ``bot_request``: how long a row matters, and its pruning.

A row is what stops a replayed callback while its signature can still pass
(``REPLAY_HORIZON``); past that it only spares a re-signed retry a second update call, so
rows are kept a day and deleted in small batches by whichever callback is due to prune.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from schemas.stewards.tables import BotRequest
from services.platform.db import SessionFactory

MAX_SKEW = 5 * 60  # seconds either way, as Slack does for its request signatures

# How long a request can be replayed: signed at T, it passes ``verify_signature`` only while
# ``now <= T + MAX_SKEW``, and T was at most MAX_SKEW ahead of our clock when we received it
# (``received_at``), so a copy can come back no later than ``received_at + 2 * MAX_SKEW``.
REPLAY_HORIZON = timedelta(seconds=2 * MAX_SKEW)
# Rows are kept well past that: API replicas' clocks may differ, and a gateway that re-signs
# its retries of a request (after a long outage of ours) still gets the stored answer for a
# day. Past the horizon a lost row changes nothing that matters: the request id is also the
# update id, which the workflow remembers, so a late re-signed retry still acts once.
BOT_REQUEST_RETENTION = timedelta(days=1)
PRUNE_EVERY = timedelta(minutes=10)
PRUNE_BATCH = 5000  # rows per delete: a backlog of months goes in small steps, not one lock

log = logging.getLogger(__name__)


class BotRequestPruner:
    """Deletes ``bot_request`` rows past ``retention``, at most once every ``every``.

    One per process (``PRUNER``): the check is a clock read, so the callback path pays for
    a delete once every ten minutes, not per request; a failed delete is logged and tried
    again next time, never failing the callback. ``retention`` never goes below
    ``REPLAY_HORIZON``, inside which a row is what stops a replay.
    """

    def __init__(
        self,
        retention: timedelta = BOT_REQUEST_RETENTION,
        every: timedelta = PRUNE_EVERY,
        clock: Callable[[], float] = time.monotonic,
        batch: int = PRUNE_BATCH,
    ) -> None:
        self.retention = max(retention, REPLAY_HORIZON)
        self.every = every.total_seconds()
        self.clock = clock
        self.batch = batch
        self.next_at = clock()  # the first callback of a process prunes

    async def maybe_prune(self, sessions: SessionFactory, now: datetime | None = None) -> int:
        """Prune if due; the rows deleted (0 when not due)."""
        if self.clock() < self.next_at:
            return 0
        self.next_at = self.clock() + self.every  # concurrent callbacks do not all prune
        try:
            cutoff = (now or datetime.now(UTC)) - self.retention
            deleted = await prune_bot_requests(sessions, cutoff, self.batch)
        except SQLAlchemyError:
            log.warning("pruning bot_request failed; trying again later", exc_info=True)
            return 0
        if deleted >= self.batch:
            self.next_at = self.clock()  # a backlog: the next callback goes on with it
        return deleted


async def prune_bot_requests(
    sessions: SessionFactory, older_than: datetime, limit: int = PRUNE_BATCH
) -> int:
    """Delete up to ``limit`` answered callbacks received before ``older_than``."""
    old = (
        select(col(BotRequest.request_id))
        .where(col(BotRequest.received_at) < older_than)
        .limit(limit)
    )
    async with sessions() as session, session.begin():
        result = await session.execute(
            delete(BotRequest).where(col(BotRequest.request_id).in_(old.scalar_subquery()))
        )
    return int(getattr(result, "rowcount", 0) or 0)


PRUNER = BotRequestPruner()
