"""Projection of cases and their timelines into the database, for lists and statistics.

Each write is idempotent: events are keyed by ``(case_id, seq)`` and the case row only
moves forward (a retried, older batch never overwrites a newer summary).

An event at a known ``(case_id, seq)`` is overwritten, not kept: a local activity runs
before its workflow task is committed, and if that task is lost (the server restarted
under it) the workflow replays from its history and may reach the same seq by another
path (the accept deadline fired rather than the acceptance). Its next batch then
rewrites the entry with what the history holds, where "do nothing" kept the entry of a
run that never happened (``tests/faults/test_server_restart.py`` caught one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Table
from temporalio import activity

from activities.cases.citizen_notice import CitizenNotices
from constants import ACT_PROJECT
from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.cases.views import ProjectionBatch
from services.platform.db import SessionFactory, newest_wins_upsert, upsert_insert

ENDED = ("closed", "cancelled")
EVENT_COLUMNS = ("kind", "status", "at", "actor_role", "actor_id", "note", "evidence", "data")
EVENTS: Table = CaseEvent.__table__  # type: ignore[attr-defined]
CASES: Table = CaseRecord.__table__  # type: ignore[attr-defined]


@cache
def statements(dialect: str, columns: tuple[str, ...]) -> tuple[Any, Any]:
    """Both upserts, built once per dialect: Core statements with bound parameters compile
    once and are reused (the ORM's per-call statement building showed in worker profiles).
    Only the ``columns`` the activity writes are updated on conflict."""
    insert = upsert_insert(dialect)
    events = insert(EVENTS)
    events = events.on_conflict_do_update(
        index_elements=["case_id", "seq"],
        set_={name: events.excluded[name] for name in EVENT_COLUMNS},
    )
    return events, newest_wins_upsert(dialect, CASES, "case_id", columns)


class ProjectionActivities:
    """Writes the case projection; built once per worker with its session factory."""

    def __init__(
        self, session_factory: SessionFactory, notices: CitizenNotices | None = None
    ) -> None:
        self._sessions = session_factory
        self._notices = notices  # Open311 reporters with a contact hear back (issue 16)

    @activity.defn(name=ACT_PROJECT)
    async def project_case_events(self, batch: ProjectionBatch) -> None:
        case = batch.case
        last_seq = max(entry.seq for entry in batch.entries)
        ended_at = next(
            (e.at for e in reversed(batch.entries) if e.status in ENDED and case.status in ENDED),
            None,
        )
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
            "deadline_span_s": (
                int(case.deadline_span.total_seconds()) if case.deadline_span else None
            ),
            "waiting_for": case.waiting_for,
            "overdue": case.overdue,
            "rework_count": case.rework_count,
            "urge_count": case.urge_count,
            "last_seq": last_seq,
            "updated_at": datetime.now(UTC),
            "closed_at": ended_at,
        }
        async with self._sessions() as session, session.begin():
            insert_events, upsert_case = statements(session.get_bind().dialect.name, tuple(row))
            await session.execute(insert_events, events)
            await session.execute(upsert_case, row)
        if self._notices is not None:
            await self._notices.after(batch)
