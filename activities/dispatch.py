"""Nearest-steward dispatch: rank the free stewards near a case and reserve one atomically.

Ranking prefers the case's own grid, then its neighbouring grids, then anyone, by
great-circle distance within the policy's widening radii. The reservation is one conditional
``UPDATE`` (``active_tasks < capacity``), so two cases at once can never overbook a steward,
and the reservation row keyed by ``(case_id, attempt)`` makes a retried activity return the
steward it already booked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from temporalio import activity

from constants import ACT_RELEASE_STEWARD, ACT_RESERVE_STEWARD
from schemas.dispatch import Assignment, DispatchRequest, ReleaseRequest
from schemas.tables import Grid, Reservation, Steward
from services.db import SessionFactory, utc
from services.distance import haversine_km

STALE_LOCATION = timedelta(minutes=30)


@dataclass(frozen=True)
class _Candidate:
    steward: Steward
    distance_km: float
    tier: int


class DispatchActivities:
    """Finds, reserves and releases stewards; built once per worker."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._sessions = session_factory
        self._grids: dict[str, Grid] | None = None

    async def _grid_map(self) -> dict[str, Grid]:
        if self._grids is None:
            async with self._sessions() as session:
                rows = (await session.execute(select(Grid))).scalars().all()
            self._grids = {g.id: g for g in rows}
        return self._grids

    @activity.defn(name=ACT_RESERVE_STEWARD)
    async def reserve_nearest_steward(self, request: DispatchRequest) -> Assignment | None:
        existing = await self._existing(request)
        if existing is not None:
            return existing
        for candidate in await self._ranked(request):
            assignment = await self._try_reserve(request, candidate)
            if assignment is not None:
                return assignment
        return await self._existing(request)

    async def _existing(self, request: DispatchRequest) -> Assignment | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Reservation, Steward)
                    .join(Steward, col(Steward.id) == col(Reservation.steward_id))
                    .where(
                        col(Reservation.case_id) == request.case_id,
                        col(Reservation.attempt) == request.attempt,
                    )
                )
            ).first()
        if row is None:
            return None
        _reservation, steward = row
        return self._assignment(request, steward, self._distance(request, steward, {}))

    async def _ranked(self, request: DispatchRequest) -> list[_Candidate]:
        grids = await self._grid_map()
        own = grids.get(request.grid_id)
        neighbours = set(own.neighbours) if own else set()
        max_km = max(request.radii_km)
        lat, lon = request.location.lat, request.location.lon
        dlat = max_km / 111.0
        dlon = max_km / (111.0 * max(math.cos(math.radians(lat)), 0.01))
        near = and_(
            col(Steward.lat).between(lat - dlat, lat + dlat),
            col(Steward.lon).between(lon - dlon, lon + dlon),
        )
        nearby_grids = [request.grid_id, *neighbours]
        async with self._sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(Steward).where(
                            col(Steward.duty_state) == "on_duty",
                            col(Steward.active_tasks) < col(Steward.capacity),
                            near | col(Steward.grid_id).in_(nearby_grids),
                        )
                    )
                )
                .scalars()
                .all()
            )
        wanted = set(request.skills)
        excluded = set(request.exclude)
        candidates: list[_Candidate] = []
        for steward in rows:
            if steward.id in excluded:
                continue
            if wanted and not wanted & set(steward.skills):
                continue
            tier = (
                0
                if steward.grid_id == request.grid_id
                else 1
                if steward.grid_id in neighbours
                else 2
            )
            distance = self._distance(request, steward, grids)
            if distance <= max_km:
                candidates.append(_Candidate(steward, distance, tier))

        def rank(c: _Candidate) -> tuple[int, int, int, float, str]:
            preferred = 0 if c.steward.id == request.preferred_steward else 1
            ring = next(i for i, r in enumerate(request.radii_km) if c.distance_km <= r)
            return (preferred, ring, c.tier, c.distance_km, c.steward.id)

        return sorted(candidates, key=rank)

    def _distance(
        self, request: DispatchRequest, steward: Steward, grids: dict[str, Grid]
    ) -> float:
        """Distance from the case; a stale or missing location falls back to the grid centroid."""
        lat, lon = steward.lat, steward.lon
        seen = utc(steward.location_at)
        if lat is None or lon is None or seen is None or datetime.now(UTC) - seen > STALE_LOCATION:
            grid = grids.get(steward.grid_id)
            if grid is not None:
                lat, lon = grid.centroid_lat, grid.centroid_lon
        if lat is None or lon is None:
            return math.inf
        return haversine_km(request.location.lat, request.location.lon, lat, lon)

    async def _try_reserve(self, request: DispatchRequest, c: _Candidate) -> Assignment | None:
        async with self._sessions() as session:
            try:
                async with session.begin():
                    booked = await session.execute(
                        update(Steward)
                        .where(
                            col(Steward.id) == c.steward.id,
                            col(Steward.duty_state) == "on_duty",
                            col(Steward.active_tasks) < col(Steward.capacity),
                        )
                        .values(active_tasks=col(Steward.active_tasks) + 1)
                    )
                    if booked.rowcount != 1:  # type: ignore[attr-defined]
                        return None
                    session.add(
                        Reservation(
                            case_id=request.case_id,
                            attempt=request.attempt,
                            steward_id=c.steward.id,
                            created_at=datetime.now(UTC),
                        )
                    )
            except IntegrityError:
                return None  # a concurrent retry of this attempt booked first
        return self._assignment(request, c.steward, c.distance_km)

    @staticmethod
    def _assignment(request: DispatchRequest, steward: Steward, distance: float) -> Assignment:
        return Assignment(
            steward_id=steward.id,
            name=steward.name,
            language=steward.language,
            grid_id=steward.grid_id,
            distance_km=round(distance, 3) if math.isfinite(distance) else -1.0,
            attempt=request.attempt,
        )

    @activity.defn(name=ACT_RELEASE_STEWARD)
    async def release_steward(self, request: ReleaseRequest) -> None:
        async with self._sessions() as session, session.begin():
            released = await session.execute(
                update(Reservation)
                .where(
                    col(Reservation.case_id) == request.case_id,
                    col(Reservation.attempt) == request.attempt,
                    col(Reservation.active).is_(True),
                )
                .values(active=False, released_at=datetime.now(UTC))
            )
            if released.rowcount == 1:  # type: ignore[attr-defined]
                await session.execute(
                    update(Steward)
                    .where(col(Steward.id) == request.steward_id, col(Steward.active_tasks) > 0)
                    .values(active_tasks=col(Steward.active_tasks) - 1)
                )
