"""Projection rows for the queue, desk, export and bench: cases as the projector writes them.

The queue reads the projection only, so a test (or the bench) that needs a case in a given
bucket writes the rows the projector would write, into the real database; no workflow is
started for them (the case page of such a case is read from the projection, ``live: false``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from schemas.cases.tables import CaseEvent, CaseRecord
from services.platform.db import SessionFactory

LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


def record(
    grid_id: str,
    status: str,
    *,
    case_type: str = "illegal_parking",
    department: str = "urban_management",
    handler: str = "department",
    source: str = "steward",
    overdue: bool = False,
    deadline: datetime | None = LONG_AGO,
    reported_at: datetime | None = None,
    closed_at: datetime | None = None,
) -> CaseRecord:
    """One projected case; its deadline long past by default, so it sorts first."""
    return CaseRecord(
        case_id="GP-Q" + uuid.uuid4().hex[:12].upper(),
        case_type=case_type,
        status=status,
        source=source,
        priority=2,
        grid_id=grid_id,
        department=department,
        handler=handler,
        lat=30.0,
        lon=120.0,
        description="queue test",
        reported_at=reported_at or datetime.now(UTC) - timedelta(hours=5),
        deadline=deadline,
        waiting_for="someone",
        overdue=overdue,
        closed_at=closed_at,
    )


def event(case_id: str, seq: int, kind: str, status: str, at: datetime | None = None) -> CaseEvent:
    return CaseEvent(
        case_id=case_id,
        seq=seq,
        kind=kind,
        status=status,
        at=at or datetime.now(UTC) - timedelta(hours=1),
        data={},
    )


def evaluated(
    case_id: str,
    grid: str,
    department: str,
    case_type: str,
    status: str,
    at: datetime,
    *,
    steward: str | None = None,
    overdue: bool = False,
) -> CaseRecord:
    """A projected case as the evaluation reads it: reported at ``at``, handled by
    ``steward`` (else by the department)."""
    return CaseRecord(
        case_id=case_id,
        case_type=case_type,
        status=status,
        source="citizen",
        priority=3,
        grid_id=grid,
        department=department,
        handler="steward" if steward else "department",
        steward_id=steward,
        lat=30.745,
        lon=120.487,
        reported_at=at.astimezone(UTC),
        overdue=overdue,
    )


def timeline(case_id: str, *entries: tuple[str, str, datetime, str | None]) -> list[CaseEvent]:
    """A case's projected timeline from ``(kind, status, at, steward or None)`` entries."""
    return [
        CaseEvent(
            case_id=case_id,
            seq=seq,
            kind=kind,
            status=status,
            at=at.astimezone(UTC),
            actor_role="steward" if actor else None,
            actor_id=actor,
        )
        for seq, (kind, status, at, actor) in enumerate(entries, start=1)
    ]


async def store(
    sessions: SessionFactory, records: Sequence[CaseRecord], events: Sequence[CaseEvent] = ()
) -> None:
    async with sessions() as session, session.begin():
        session.add_all(records)
        session.add_all(events)
