"""Nearest-steward dispatch: rank the free stewards near a case and reserve one atomically.

Ranking (``activities.stewards.index_cache`` over ``services.stewards.index``) prefers the case's
own grid, then its neighbouring grids, then anyone, by great-circle distance, within each of
the policy's widening radii in turn. The reservation is one conditional
``UPDATE`` (``active_tasks < capacity``), so two cases at once can never overbook a steward,
and the reservation row keyed by ``(case_id, attempt)`` makes a retried activity return the
steward it already booked: the retry's own booking collides with that row and rolls back.
Statements are SQLAlchemy Core on the tables (one ``UPDATE ... RETURNING`` and one
``INSERT`` per booking): the ORM's unit of work cost more CPU than the query itself.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from activities.stewards.index_cache import StewardCache
from constants import ACT_RELEASE_STEWARD, ACT_RESERVE_STEWARD
from schemas.cases.dispatch import Assignment, DispatchRequest, ReleaseRequest
from schemas.stewards.industries import covers
from schemas.stewards.tables import Reservation, Steward
from schemas.worktime.policy import SliceAnswer, SliceRequest
from schemas.worktime.sources import UnknownYearError
from services.platform.db import SessionFactory
from services.platform.distance import haversine_km

Slices = Callable[[SliceRequest], Awaitable[SliceAnswer]]
STEWARDS: Table = Steward.__table__  # type: ignore[attr-defined]
RESERVATIONS: Table = Reservation.__table__  # type: ignore[attr-defined]
ASSIGNED = (STEWARDS.c.id, STEWARDS.c.name, STEWARDS.c.language, STEWARDS.c.grid_id)


class AlreadyBooked(Exception):
    """This (case, attempt) holds a reservation already: an earlier try of this activity."""


class DispatchActivities:
    """Finds, reserves and releases stewards; built once per worker."""

    PAGE = 8  # candidates asked of the index at a time

    def __init__(self, session_factory: SessionFactory, slices: Slices | None = None) -> None:
        self._sessions = session_factory
        self._cache = StewardCache(session_factory)
        self._slices = slices  # the calendar (``WorktimeActivities.answer``)

    @activity.defn(name=ACT_RESERVE_STEWARD)
    async def reserve_nearest_steward(self, request: DispatchRequest) -> Assignment | None:
        assignment = await self._reserve(request)
        if assignment is None or request.team_slice is None:
            return assignment
        return await self._with_team_slice(assignment, request.team_slice)

    async def _with_team_slice(self, assignment: Assignment, asked: SliceRequest) -> Assignment:
        """The reserved steward's team calendar, as the calendar activity would answer it.

        A database error fails the whole activity: the retry finds the steward this
        attempt booked (``_existing``) and asks again. A year the calendar does not know is
        an answer, not a failure: the case runs that stage on the wall clock and says so.
        """
        if self._slices is None:
            raise RuntimeError("DispatchActivities was built without the calendar")
        request = asked.model_copy(update={"team": assignment.grid_id})
        try:
            answer = await self._slices(request)
        except UnknownYearError as error:
            return assignment.model_copy(update={"team_slice_error": str(error)})
        return assignment.model_copy(update={"team_slice": answer})

    async def _reserve(self, request: DispatchRequest) -> Assignment | None:
        await self._cache.refresh()
        try:
            for rebuilt in (False, True):
                if rebuilt:
                    await self._cache.refresh(full=True)
                assignment = await self._search(request)
                if assignment is not None:
                    return assignment
        except AlreadyBooked:
            pass
        return await self._existing(request)

    async def _search(self, request: DispatchRequest) -> Assignment | None:
        """Preferred steward first; then ring by ring, own grid before neighbours before others."""
        lat, lon = request.location.lat, request.location.lon
        tried = set(request.exclude)
        preferred = request.preferred_steward
        if preferred and preferred not in tried:
            tried.add(preferred)
            point = self._cache.index.get(preferred)
            distance = haversine_km(lat, lon, point.lat, point.lon) if point else -1.0
            assignment = await self._try_reserve(request, preferred, distance)
            if assignment is not None:
                return assignment
        neighbours = self._cache.neighbours(request.grid_id)
        for radius in request.radii_km:
            while True:
                candidates = self._cache.index.nearest(
                    lat,
                    lon,
                    grid_id=request.grid_id,
                    neighbour_grids=neighbours,
                    skills=frozenset(request.skills),
                    exclude=frozenset(tried),
                    max_km=radius,
                    k=self.PAGE,
                )
                if not candidates:
                    break
                for candidate in candidates:
                    tried.add(candidate.steward_id)
                    industry = self._cache.industries.get(candidate.steward_id, "")
                    if not covers(industry, request.case_type):
                        continue  # an industry steward outside their trade's case types
                    assignment = await self._try_reserve(
                        request, candidate.steward_id, candidate.distance_km
                    )
                    if assignment is not None:
                        return assignment
        return None

    async def _existing(self, request: DispatchRequest) -> Assignment | None:
        """The steward an earlier try of this (case, attempt) booked, if one did."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(*ASSIGNED)
                    .join(RESERVATIONS, STEWARDS.c.id == RESERVATIONS.c.steward_id)
                    .where(
                        RESERVATIONS.c.case_id == request.case_id,
                        RESERVATIONS.c.attempt == request.attempt,
                    )
                )
            ).first()
        if row is None:
            return None
        point = self._cache.index.get(row.id)
        distance = (
            haversine_km(request.location.lat, request.location.lon, point.lat, point.lon)
            if point
            else -1.0
        )
        return self._assignment(request, row, distance)

    async def _try_reserve(
        self, request: DispatchRequest, steward_id: str, distance_km: float
    ) -> Assignment | None:
        """Book one unit of the steward's capacity and record it; None if they are full or
        off duty. Raises ``AlreadyBooked`` if this attempt already holds a reservation."""
        async with self._sessions() as session:
            try:
                async with session.begin():
                    now = datetime.now(UTC)
                    steward = (
                        await session.execute(
                            update(STEWARDS)
                            .where(
                                STEWARDS.c.id == steward_id,
                                STEWARDS.c.duty_state == "on_duty",
                                STEWARDS.c.active_tasks < STEWARDS.c.capacity,
                            )
                            .values(active_tasks=STEWARDS.c.active_tasks + 1, updated_at=now)
                            .returning(*ASSIGNED)
                        )
                    ).first()
                    if steward is None:
                        return None
                    await session.execute(
                        insert(RESERVATIONS).values(
                            case_id=request.case_id,
                            attempt=request.attempt,
                            steward_id=steward_id,
                            active=True,
                            created_at=now,
                        )
                    )
            except IntegrityError as exc:  # the booking above rolled back with it
                raise AlreadyBooked(request.case_id) from exc
        self._cache.booked(steward_id, +1)
        return self._assignment(request, steward, distance_km)

    @staticmethod
    def _assignment(
        request: DispatchRequest, steward: Row[Any, Any, Any, Any], distance: float
    ) -> Assignment:
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
                update(RESERVATIONS)
                .where(
                    RESERVATIONS.c.case_id == request.case_id,
                    RESERVATIONS.c.attempt == request.attempt,
                    RESERVATIONS.c.active.is_(True),
                )
                .values(active=False, released_at=datetime.now(UTC))
            )
            if released.rowcount == 1:  # type: ignore[attr-defined]
                await session.execute(
                    update(STEWARDS)
                    .where(STEWARDS.c.id == request.steward_id, STEWARDS.c.active_tasks > 0)
                    .values(active_tasks=STEWARDS.c.active_tasks - 1, updated_at=datetime.now(UTC))
                )
                self._cache.booked(request.steward_id, -1)
