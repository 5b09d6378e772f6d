"""The coalescer's per-batch statements reach a batch's rows through an index.

The flusher clears every batch it sent (and takes over a dead flusher's) with one statement
per batch. Found by ``batch_id`` alone, which has no index, each was a scan of the whole
``detection`` table, an audit table that only grows: at 1,000 detections a second it was
the database's busiest statement (bench/RESULTS.md, 2026-12-01). These tests ask the real
database's planner, with sequential scans priced out on PostgreSQL, whether the statements
can find a batch's rows by its case (the partial index ``ix_detection_pending`` (case_id, id)
WHERE pending on PostgreSQL) rather than by reading the whole table.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, update
from sqlalchemy.sql.dml import UpdateBase

from schemas.intake.tables import Detection
from services.intake.coalesce import CLEAR, RETAKE
from services.platform.db import SessionFactory

BATCH: dict[str, object] = {"case": "GP-X", "bid": "coal:GP-X:t"}
STATEMENTS: dict[str, tuple[UpdateBase, dict[str, object]]] = {
    "clear": (CLEAR, BATCH | {"out": "merged"}),
    "retake": (RETAKE, BATCH | {"at": datetime(2026, 12, 1, tzinfo=UTC)}),
}


async def plan(sessions: SessionFactory, statement: UpdateBase, values: dict[str, object]) -> str:
    """The plan the database would run ``statement`` with, as text (the driver's own SQL
    and parameters, as the flusher sends them)."""
    async with sessions() as session, session.begin():
        connection = await session.connection()
        compiled = statement.compile(dialect=connection.dialect)
        params = compiled.construct_params(values)
        positional = tuple(params[name] for name in compiled.positiontup or ())
        if connection.dialect.name == "postgresql":
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = await connection.exec_driver_sql(f"EXPLAIN {compiled}", positional)
            return "\n".join(row[0] for row in rows)
        rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional)
        return "\n".join(row[-1] for row in rows)


def scans(shown: str) -> bool:
    """Whether a plan reads the whole table (PostgreSQL's and SQLite's words)."""
    return "Seq Scan" in shown or re.search(r"\bSCAN detection\b", shown) is not None


@pytest.mark.parametrize("name", sorted(STATEMENTS))
async def test_a_batch_statement_finds_its_rows_by_their_case_not_by_a_scan(
    sessions: SessionFactory, name: str
) -> None:
    shown = await plan(sessions, *STATEMENTS[name])
    # PostgreSQL takes the partial index; SQLite the case's index (both bounded by the case)
    assert re.search(r"ix_detection_(pending|case_id)\b", shown), shown
    assert not scans(shown), shown


async def test_the_statement_as_it_was_by_batch_id_alone_scans_the_table(
    sessions: SessionFactory,
) -> None:
    """The check above can fail: the clear as it was is seen to scan."""
    table = Detection.__table__  # type: ignore[attr-defined]
    before = update(table).where(table.c.batch_id == bindparam("bid")).values(pending=False)
    assert scans(await plan(sessions, before, {"bid": "coal:GP-X:t"}))
