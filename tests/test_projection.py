"""The projection converges on the workflow's history, whatever was written before."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from activities.cases.projection import ProjectionActivities
from schemas.cases.views import CaseSummary, ProjectionBatch, TimelineEntry
from schemas.platform.common import GeoPoint
from services.platform.db import SessionFactory


def batch(case_id: str, entries: list[TimelineEntry], status: str) -> ProjectionBatch:
    summary = CaseSummary(
        case_id=case_id, case_type="garbage", status=status, source="steward", priority=3,
        grid_id="G001", micro_grid_id=None, department="city_management", handler="steward",
        steward_id=None, location=GeoPoint(lat=30.77, lon=120.45), description="test",
        reported_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC), deadline=None,
        waiting_for="a steward", overdue=False, rework_count=0, urge_count=0,
    )  # fmt: skip
    return ProjectionBatch(case=summary, entries=entries)


def entry(seq: int, kind: str, status: str, minute: int) -> TimelineEntry:
    at = datetime(2026, 11, 25, 9, minute, tzinfo=UTC)
    return TimelineEntry(seq=seq, kind=kind, status=status, at=at)


async def test_an_entry_from_a_lost_workflow_task_is_overwritten(sessions: SessionFactory) -> None:
    project = ProjectionActivities(sessions).project_case_events
    filed = entry(1, "filed", "filed", 0)
    # a workflow task that was never committed projected "accepted" at seq 2 ...
    await project(batch("GP-PROJ-1", [filed, entry(2, "accepted", "accepted", 5)], "accepted"))
    # ... the replayed run reached seq 2 another way, and projects what its history holds
    await project(batch("GP-PROJ-1", [entry(2, "accept_timeout", "dispatched", 30)], "dispatched"))
    await project(batch("GP-PROJ-1", [filed], "filed"))  # a late retry of an older batch
    async with sessions() as session:
        rows = (
            await session.execute(
                text("SELECT seq, kind, status FROM case_event WHERE case_id = 'GP-PROJ-1' "
                     "ORDER BY seq")
            )
        ).all()  # fmt: skip
        case = (
            await session.execute(text("SELECT status, last_seq FROM case_record "
                                       "WHERE case_id = 'GP-PROJ-1'"))
        ).one()  # fmt: skip
    assert [tuple(r) for r in rows] == [(1, "filed", "filed"), (2, "accept_timeout", "dispatched")]
    assert tuple(case) == ("dispatched", 2)  # the case row never moves back
