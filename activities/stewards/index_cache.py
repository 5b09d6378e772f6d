"""Each worker's in-memory nearest-steward index, kept fresh from the steward table.

The index (``services.stewards.index``) answers in well under a millisecond at 100,000
stewards; the database stays the authority. Rows changed since the last look
(``updated_at``) are applied before each dispatch, and the whole index is rebuilt every few
minutes (stale locations then fall back to the grid centroid). A stale entry costs at most a
failed reservation (the conditional ``UPDATE`` checks duty and capacity), and a dispatch that
finds nobody rebuilds once before giving up, so a steward is never invisible for long.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, select

from schemas.platform.tables import Grid
from schemas.stewards.tables import Steward
from services.platform.db import SessionFactory, utc
from services.stewards.index import StewardIndex, StewardPoint

STEWARDS: Table = Steward.__table__  # type: ignore[attr-defined]
STALE_LOCATION = timedelta(minutes=30)
FULL_REBUILD = timedelta(minutes=5)
OVERLAP = timedelta(seconds=2)
MIN_INTERVAL_SECONDS = 0.5  # clocks of API and worker hosts may differ a little


class StewardCache:
    """A ``StewardIndex`` plus the grid map, owned by one worker process."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._lock = asyncio.Lock()
        self.index = StewardIndex()
        self.grids: dict[str, Grid] = {}
        self.industries: dict[str, str] = {}  # steward id -> industry (dispatch coverage)
        self._built_at: datetime | None = None
        self._watermark: datetime | None = None
        self._refreshed_at = -math.inf

    def neighbours(self, grid_id: str) -> frozenset[str]:
        grid = self.grids.get(grid_id)
        return frozenset(grid.neighbours) if grid else frozenset()

    async def refresh(self, *, full: bool = False) -> None:
        """Apply recent changes; at most one look per ``MIN_INTERVAL`` for all callers.

        Every dispatch calling this would serialise all of them on one query (it capped
        intake at ~17 cases/s); half a second of staleness costs at most a failed booking.
        """
        if not full and self._fresh():
            return
        async with self._lock:
            if not full and self._fresh():
                return  # someone refreshed while we waited for the lock
            now = datetime.now(UTC)
            if full or self._built_at is None or now - self._built_at > FULL_REBUILD:
                await self._rebuild(now)
                self._refreshed_at = time.monotonic()
                return
            assert self._watermark is not None
            since = self._watermark - OVERLAP
            async with self._sessions() as session:
                rows = (
                    await session.execute(select(STEWARDS).where(STEWARDS.c.updated_at >= since))
                ).all()
            for row in rows:
                self.index.upsert(self.point(row, now))
            self._watermark = max([now, *[utc(r.updated_at) or now for r in rows]])
            self._refreshed_at = time.monotonic()

    def _fresh(self) -> bool:
        return time.monotonic() - self._refreshed_at < MIN_INTERVAL_SECONDS

    async def _rebuild(self, now: datetime) -> None:
        async with self._sessions() as session:
            grids = (await session.execute(select(Grid))).scalars().all()
            rows = (await session.execute(select(STEWARDS))).all()  # Core rows: no ORM cost
        self.grids = {g.id: g for g in grids}
        self.index = StewardIndex(self.point(r, now) for r in rows)
        self._built_at = self._watermark = now

    def point(self, row: Any, now: datetime) -> StewardPoint:
        """Where dispatch should think a steward is: their last ping, or their grid."""
        lat, lon = row.lat, row.lon
        seen = utc(row.location_at)
        if lat is None or lon is None or seen is None or now - seen > STALE_LOCATION:
            grid = self.grids.get(row.grid_id)
            lat, lon = (grid.centroid_lat, grid.centroid_lon) if grid else (0.0, 0.0)
        self.industries[row.id] = row.industry
        return StewardPoint(
            steward_id=row.id,
            lat=lat,
            lon=lon,
            grid_id=row.grid_id,
            skills=frozenset(row.skills),
            on_duty=row.duty_state == "on_duty",
            free_capacity=max(0, row.capacity - row.active_tasks),
        )

    def booked(self, steward_id: str, delta: int) -> None:
        """Reflect our own reservation or release at once, before the next refresh."""
        point = self.index.get(steward_id)
        if point is not None:
            free = max(0, point.free_capacity - delta)
            self.index.upsert(
                StewardPoint(
                    steward_id=point.steward_id,
                    lat=point.lat,
                    lon=point.lon,
                    grid_id=point.grid_id,
                    skills=point.skills,
                    on_duty=point.on_duty,
                    free_capacity=free,
                )
            )
