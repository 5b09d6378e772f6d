"""Projection of cases and their timelines into the database, for lists and statistics.

Each write is idempotent: events are keyed by ``(case_id, seq)`` and the case row only
moves forward (a retried, older batch never overwrites a newer summary).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col
from temporalio import activity

from constants import ACT_PROJECT
from schemas.case import ProjectionBatch
from schemas.tables import CaseEvent, CaseRecord
from services.db import SessionFactory, upsert_insert

ENDED = ("closed", "cancelled")


class ProjectionActivities:
    """Writes the case projection; built once per worker with its session factory."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._sessions = session_factory

    @activity.defn(name=ACT_PROJECT)
    async def project_case_events(self, batch: ProjectionBatch) -> None:
        case = batch.case
        last_seq = max(entry.seq for entry in batch.entries)
        ended_at = next(
            (e.at for e in reversed(batch.entries) if e.status in ENDED and case.status in ENDED),
            None,
        )
        async with self._sessions() as session, session.begin():
            insert = upsert_insert(session.get_bind().dialect.name)
            events = [
                {
                    "case_id": case.case_id,
                    "seq": entry.seq,
                    "kind": entry.kind,
                    "status": entry.status,
                    "at": entry.at,
                    "actor_role": entry.actor.role if entry.actor else None,
                    "actor_id": entry.actor.id if entry.actor else None,
                    "note": entry.note,
                    "evidence": [e.model_dump(mode="json") for e in entry.evidence],
                    "data": entry.data,
                }
                for entry in batch.entries
            ]
            await session.execute(
                insert(CaseEvent)
                .values(events)
                .on_conflict_do_nothing(index_elements=["case_id", "seq"])
            )
            row = {
                "case_id": case.case_id,
                "case_type": case.case_type,
                "status": case.status,
                "source": case.source,
                "priority": case.priority,
                "grid_id": case.grid_id,
                "micro_grid_id": case.micro_grid_id,
                "department": case.department,
                "handler": case.handler,
                "steward_id": case.steward_id,
                "lat": case.location.lat,
                "lon": case.location.lon,
                "description": case.description,
                "reported_at": case.reported_at,
                "deadline": case.deadline,
                "waiting_for": case.waiting_for,
                "overdue": case.overdue,
                "rework_count": case.rework_count,
                "urge_count": case.urge_count,
                "last_seq": last_seq,
                "updated_at": datetime.now(UTC),
                "closed_at": ended_at,
            }
            statement = insert(CaseRecord).values(row)
            changing = {k: statement.excluded[k] for k in row if k != "case_id"}
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["case_id"],
                    set_=changing,
                    where=col(CaseRecord.last_seq) <= statement.excluded.last_seq,
                )
            )
