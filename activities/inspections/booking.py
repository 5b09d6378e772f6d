"""Registry I/O of joint inspections: build the form from the checklists, book an inspector.

Booking is one conditional ``UPDATE`` on the inspector's ``booking_version`` plus the
booking row keyed by ``(inspection_id, attempt)`` in the same transaction: two inspections
can never take the same slot, and a retried activity returns the slot it already booked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from temporalio import activity
from temporalio.exceptions import ApplicationError

from constants import (
    ACT_BOOK_INSPECTOR,
    ACT_PREPARE_INSPECTION,
    ACT_RECORD_FINDINGS,
    ACT_RELEASE_INSPECTOR,
)
from schemas.inspections.activity import (
    Booking,
    BookingRequest,
    InspectionPlan,
    InspectorRelease,
    PrepareRequest,
    RecordFinding,
    RecordFindingsRequest,
)
from schemas.inspections.checklists import Checklists, default_checklists
from schemas.inspections.tables import Enterprise, InspectionBooking, Inspector
from schemas.inspections.workflow import EnterpriseRef
from schemas.platform.common import GeoPoint
from schemas.platform.tables import Grid
from services.inspections.enterprise_records import last_visit, record_findings
from services.inspections.inspector_calendar import next_slot
from services.platform.db import SessionFactory, utc

BOOKING_ROUNDS = 20


@dataclass(frozen=True)
class _Candidate:
    inspector: Inspector
    start: datetime
    end: datetime
    tier: int


class InspectionActivities:
    """Form building and inspector booking; built once per worker."""

    def __init__(self, session_factory: SessionFactory, checklists: Checklists | None = None):
        self._sessions = session_factory
        self._checklists = checklists or default_checklists()
        self._neighbours: dict[str, set[str]] | None = None

    # ---- the form ------------------------------------------------------------------
    @activity.defn(name=ACT_RECORD_FINDINGS)
    async def find_record_findings(self, request: RecordFindingsRequest) -> list[RecordFinding]:
        async with self._sessions() as session:
            since = await last_visit(session, request.enterprise_id, request.inspection_id)
            return await record_findings(
                session,
                request.enterprise_id,
                since,
                request.until,
                self._checklists.record_rules,
            )

    @activity.defn(name=ACT_PREPARE_INSPECTION)
    async def prepare_inspection(self, request: PrepareRequest) -> InspectionPlan:
        async with self._sessions() as session:
            row = await session.get(Enterprise, request.enterprise_id)
        if row is None:
            raise ApplicationError(
                f"no enterprise {request.enterprise_id}",
                type="unknown_enterprise",
                non_retryable=True,
            )
        lists = self._checklists
        items = lists.form_for(row.industry, row.hazardous_chemicals, request.with_findings)
        departments = [d for d in lists.departments if any(i.department == d for i in items)]
        on_site = sum(1 for i in items if not i.automatic)
        return InspectionPlan(
            enterprise=EnterpriseRef(
                id=row.id,
                name=row.name,
                grid_id=row.grid_id,
                location=GeoPoint(lat=row.lat, lon=row.lon),
                industry=row.industry,
                risk_level=row.risk_level,
                hazardous_chemicals=row.hazardous_chemicals,
            ),
            checklist_version=lists.version,
            items=items,
            departments=departments,
            visit_minutes=lists.visit.minutes_for(on_site),
            visit=lists.visit,
            rectification=lists.rectification,
        )

    # ---- booking -------------------------------------------------------------------
    @activity.defn(name=ACT_BOOK_INSPECTOR)
    async def book_inspector(self, request: BookingRequest) -> Booking | None:
        for _ in range(BOOKING_ROUNDS):
            existing = await self._existing(request.inspection_id, request.attempt)
            if existing is not None:
                return existing
            ranked = await self._ranked(request)
            if not ranked:
                return None
            for candidate in ranked:
                booking = await self._try_book(request, candidate)
                if booking is not None:
                    return booking
            # Every candidate was booked by someone else meanwhile: rank again, fresh.
        raise ApplicationError("inspector calendars kept changing; retrying", type="contention")

    async def _existing(self, inspection_id: str, attempt: int) -> Booking | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(InspectionBooking, Inspector)
                    .join(Inspector, col(Inspector.id) == col(InspectionBooking.inspector_id))
                    .where(
                        col(InspectionBooking.inspection_id) == inspection_id,
                        col(InspectionBooking.attempt) == attempt,
                    )
                )
            ).first()
        if row is None:
            return None
        booking, inspector = row
        visit_at, visit_end = utc(booking.visit_at), utc(booking.visit_end)
        assert visit_at is not None and visit_end is not None
        return Booking(
            inspector_id=inspector.id,
            name=inspector.name,
            grid_id=inspector.grid_id,
            attempt=attempt,
            visit_at=visit_at,
            visit_end=visit_end,
            tier=booking.tier,
        )

    async def _neighbour_map(self) -> dict[str, set[str]]:
        if self._neighbours is None:
            async with self._sessions() as session:
                grids = (await session.execute(select(Grid))).scalars().all()
            self._neighbours = {g.id: set(g.neighbours) for g in grids}
        return self._neighbours

    async def _ranked(self, request: BookingRequest) -> list[_Candidate]:
        """Qualified for every department of the form; earliest day, own grid first."""
        neighbours = (await self._neighbour_map()).get(request.grid_id, set())
        async with self._sessions() as session:
            rows = (
                (await session.execute(select(Inspector).where(col(Inspector.on_duty).is_(True))))
                .scalars()
                .all()
            )
        needed, excluded = set(request.departments), set(request.exclude)
        zone_day = request.visit.utc_offset_hours
        candidates = []
        for inspector in rows:
            if inspector.id in excluded or not needed <= set(inspector.qualifications):
                continue
            free = utc(inspector.booked_until)
            after = max(request.earliest, free) if free else request.earliest
            start, end = next_slot(after, request.minutes, request.visit)
            tier = (
                0
                if inspector.grid_id == request.grid_id
                else 1
                if inspector.grid_id in neighbours
                else 2
            )
            candidates.append(_Candidate(inspector, start, end, tier))

        def rank(c: _Candidate) -> tuple[int, int, datetime, str]:
            day = (c.start.timestamp() + zone_day * 3600) // 86400
            return (int(day), c.tier, c.start, c.inspector.id)

        return sorted(candidates, key=rank)

    async def _try_book(self, request: BookingRequest, c: _Candidate) -> Booking | None:
        async with self._sessions() as session:
            try:
                async with session.begin():
                    booked = await session.execute(
                        update(Inspector)
                        .where(
                            col(Inspector.id) == c.inspector.id,
                            col(Inspector.booking_version) == c.inspector.booking_version,
                            col(Inspector.on_duty).is_(True),
                        )
                        .values(
                            booked_until=c.end,
                            booking_version=col(Inspector.booking_version) + 1,
                            active_inspections=col(Inspector.active_inspections) + 1,
                        )
                    )
                    if booked.rowcount != 1:  # type: ignore[attr-defined]
                        return None  # someone booked them meanwhile: next candidate
                    session.add(
                        InspectionBooking(
                            inspection_id=request.inspection_id,
                            attempt=request.attempt,
                            inspector_id=c.inspector.id,
                            visit_at=c.start,
                            visit_end=c.end,
                            tier=c.tier,
                            created_at=datetime.now(UTC),
                        )
                    )
            except IntegrityError:
                return await self._existing(request.inspection_id, request.attempt)
        return Booking(
            inspector_id=c.inspector.id,
            name=c.inspector.name,
            grid_id=c.inspector.grid_id,
            attempt=request.attempt,
            visit_at=c.start,
            visit_end=c.end,
            tier=c.tier,
        )

    @activity.defn(name=ACT_RELEASE_INSPECTOR)
    async def release_inspector(self, request: InspectorRelease) -> None:
        """The visit is over (or withdrawn); a slot never used goes back to the calendar."""
        async with self._sessions() as session, session.begin():
            released = await session.execute(
                update(InspectionBooking)
                .where(
                    col(InspectionBooking.inspection_id) == request.inspection_id,
                    col(InspectionBooking.attempt) == request.attempt,
                    col(InspectionBooking.active).is_(True),
                )
                .values(active=False, released_at=datetime.now(UTC))
            )
            if released.rowcount != 1:  # type: ignore[attr-defined]
                return  # already released by an earlier attempt of this activity
            booking = (
                await session.execute(
                    select(InspectionBooking).where(
                        col(InspectionBooking.inspection_id) == request.inspection_id,
                        col(InspectionBooking.attempt) == request.attempt,
                    )
                )
            ).scalar_one()
            inspector = await session.get(Inspector, request.inspector_id)
            if inspector is None:
                return
            values: dict[str, object] = {
                "active_inspections": case(
                    (col(Inspector.active_inspections) > 0, col(Inspector.active_inspections) - 1),
                    else_=0,
                ),
                "booking_version": col(Inspector.booking_version) + 1,
            }
            if request.free_slot and utc(inspector.booked_until) == utc(booking.visit_end):
                values["booked_until"] = booking.visit_at
            await session.execute(
                update(Inspector).where(col(Inspector.id) == inspector.id).values(**values)
            )
