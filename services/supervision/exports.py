"""Exports of the evaluation page: cases, timelines and the evaluation, as CSV or XLSX.

Rows come from the database in a server-side stream (``AsyncSession.stream``, batches of
``BATCH``), so a year of cases never sits in memory as ORM objects. CSV goes out as it is
written; an XLSX is a zip that openpyxl can only close at the end, so its write-only
workbook (rows spill to a temporary file, not memory) is saved to a spooled file that is
then sent in chunks. The filters are the page's (``services.supervision.trends``).
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from openpyxl import Workbook
from sqlalchemy import ColumnElement, Select, select
from sqlmodel import col

from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.platform.common import town_time
from services.platform.db import SessionFactory, utc
from services.supervision import trends
from services.supervision.trends import PeriodFilter

What = Literal["cases", "timeline", "evaluation"]
BATCH = 500
CHUNK = 64 * 1024
CASE_COLUMNS = (
    "case_id",
    "case_type",
    "status",
    "source",
    "priority",
    "grid_id",
    "micro_grid_id",
    "department",
    "handler",
    "steward_id",
    "reported_at",
    "deadline",
    "overdue",
    "rework_count",
    "urge_count",
    "closed_at",
    "waiting_for",
    "description",
)
TIMELINE_COLUMNS = ("case_id", "seq", "at", "kind", "status", "actor_role", "actor_id", "note")
EVALUATION_COLUMNS = (
    "group",
    "key",
    "cases",
    "closed",
    "cancelled",
    "open",
    "overdue_open",
    "on_time",
    "on_time_rate",
    "closure_rate",
    "rework_rate",
)
Row = Sequence[Any]


def _where(filters: PeriodFilter) -> list[ColumnElement[bool]]:
    out = [
        col(CaseRecord.reported_at) >= filters.start,
        col(CaseRecord.reported_at) < filters.end,
    ]
    for name in ("grid_id", "case_type", "department", "source"):
        if (value := getattr(filters, name)) is not None:
            out.append(col(getattr(CaseRecord, name)) == value)
    if not filters.scope.all:
        out.append(filters.scope.clause())
    return out


def _cell(value: Any) -> Any:
    """Times as the town reads them (an XLSX cell cannot hold a time zone)."""
    if isinstance(value, datetime):
        return town_time(utc(value))
    return value


async def _stream(sessions: SessionFactory, statement: Select[Any]) -> AsyncIterator[Row]:
    async with sessions() as session:
        result = await session.stream(statement.execution_options(yield_per=BATCH))
        async for row in result:
            yield [_cell(v) for v in row]


async def rows(
    sessions: SessionFactory, what: What, filters: PeriodFilter, group_by: trends.Grouping
) -> tuple[Sequence[str], AsyncIterator[Row]]:
    """The header and the rows of one export."""
    if what == "cases":
        fields = [col(getattr(CaseRecord, name)) for name in CASE_COLUMNS]
        statement = (
            select(*fields)
            .where(*_where(filters))
            .order_by(col(CaseRecord.reported_at), col(CaseRecord.case_id))
        )
        return CASE_COLUMNS, _stream(sessions, statement)
    if what == "timeline":
        fields = [col(getattr(CaseEvent, name)) for name in TIMELINE_COLUMNS]
        statement = (
            select(*fields)
            .join(CaseRecord, col(CaseRecord.case_id) == col(CaseEvent.case_id))
            .where(*_where(filters))
            .order_by(col(CaseEvent.case_id), col(CaseEvent.seq))
        )
        return TIMELINE_COLUMNS, _stream(sessions, statement)
    return EVALUATION_COLUMNS, _evaluation(sessions, filters, group_by)


async def _evaluation(
    sessions: SessionFactory, filters: PeriodFilter, group_by: trends.Grouping
) -> AsyncIterator[Row]:
    async with sessions() as session:
        total, groups = await trends.table(session, filters, group_by)
    for row in [total, *groups]:
        yield [
            group_by if row.key != "*" else "all",
            row.key,
            row.cases,
            row.closed,
            row.cancelled,
            row.open,
            row.overdue_open,
            row.on_time,
            row.on_time_rate,
            row.closure_rate,
            row.rework_rate,
        ]


async def csv_bytes(header: Sequence[str], body: AsyncIterator[Row]) -> AsyncIterator[bytes]:
    """UTF-8 with a byte-order mark (so Excel opens the Chinese text right), row by row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield ("\ufeff" + buffer.getvalue()).encode()
    async for row in body:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        yield buffer.getvalue().encode()


async def xlsx_bytes(
    sheet: str, header: Sequence[str], body: AsyncIterator[Row]
) -> AsyncIterator[bytes]:
    """A write-only workbook of one sheet, then its bytes in ``CHUNK`` pieces."""
    book = Workbook(write_only=True)
    worksheet = book.create_sheet(sheet)
    worksheet.append(list(header))
    async for row in body:
        worksheet.append(list(row))
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    try:
        await asyncio.to_thread(book.save, spool)
        spool.seek(0)
        read: Callable[[int], bytes] = spool.read
        while chunk := await asyncio.to_thread(read, CHUNK):
            yield chunk
    finally:
        spool.close()
