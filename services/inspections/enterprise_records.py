"""Enterprise-side safety records (hot work, confined space, hazardous chemicals in/out).

An enterprise logs its own operations in its app (``POST /enterprises/{id}/records``);
warehouse cameras and smoke sensors log what they see (``.../observations``). Before each
inspection, ``record_findings`` compares the two since the enterprise's last visit: a
record made after the fact is *late*, an operation a device saw with no record near it is
*missing*. Each becomes a hazard on an automatic item of the next inspection's form.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.inspections.activity import RecordFinding
from schemas.inspections.checklists import RecordKind, RecordRule
from schemas.inspections.tables import Enterprise, EnterpriseRecord, InspectionRecord
from schemas.platform.common import AwareDatetime, Line, Text
from services.platform.db import utc
from services.platform.requests import REUSED
from services.temporal_gateway import KEY_REUSED, ActionRefused

Source = Literal["enterprise", "device"]


class UnknownEnterprise(LookupError):
    """No enterprise with this id in the registry (HTTP 404)."""


class RecordIn(BaseModel):
    """One safety operation as the enterprise app (or a device) reports it."""

    model_config = ConfigDict(extra="forbid")

    kind: RecordKind
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    permit_no: Annotated[Line, Field(max_length=64)] | None = None
    chemical: Annotated[Line, Field(max_length=100)] | None = None
    quantity_kg: float | None = Field(default=None, ge=0, le=1e7)
    place: Annotated[Line, Field(max_length=200)] | None = None
    operator: Annotated[Line, Field(max_length=60)] | None = None
    note: Annotated[Text, Field(max_length=2000)] | None = None


class RecordOut(RecordIn):
    id: int
    enterprise_id: str
    source: Source
    recorded_at: datetime
    reported_by: str


class RecordPage(BaseModel):
    items: list[RecordOut]
    total: int


def _out(row: EnterpriseRecord) -> RecordOut:
    assert row.id is not None
    return RecordOut(
        id=row.id,
        enterprise_id=row.enterprise_id,
        source="device" if row.source == "device" else "enterprise",
        kind=row.kind,
        started_at=utc(row.started_at) or row.started_at,
        ended_at=utc(row.ended_at),
        recorded_at=utc(row.recorded_at) or row.recorded_at,
        permit_no=row.permit_no,
        chemical=row.chemical,
        quantity_kg=row.quantity_kg,
        place=row.place,
        operator=row.operator,
        note=row.note,
        reported_by=row.reported_by,
    )


async def add_record(
    session: AsyncSession,
    enterprise_id: str,
    body: RecordIn,
    *,
    source: Source,
    reported_by: str,
    client_key: str,
    now: datetime | None = None,
) -> tuple[RecordOut, bool]:
    """Store a record once per ``client_key``; a retry returns the first one (False).

    The key names one request: reused for another body, source or reporter it is
    ``ActionRefused("idempotency_key_reused")`` (409), and nothing is stored."""
    row = EnterpriseRecord(
        enterprise_id=enterprise_id,
        client_key=client_key,
        kind=body.kind,
        source=source,
        started_at=body.started_at.astimezone(UTC),
        ended_at=body.ended_at.astimezone(UTC) if body.ended_at else None,
        recorded_at=(now or datetime.now(UTC)).astimezone(UTC),
        permit_no=body.permit_no,
        chemical=body.chemical,
        quantity_kg=body.quantity_kg,
        place=body.place,
        operator=body.operator,
        note=body.note,
        reported_by=reported_by,
    )
    try:
        async with session.begin():
            if await session.get(Enterprise, enterprise_id) is None:
                raise UnknownEnterprise(enterprise_id)
            existing = await _by_key(session, enterprise_id, client_key)
            if existing is not None:
                return _repeated(existing, body, source, reported_by), False
            session.add(row)
    except IntegrityError:
        existing = await _by_key(session, enterprise_id, client_key)
        assert existing is not None
        return _repeated(existing, body, source, reported_by), False
    return _out(row), True


def _repeated(row: EnterpriseRecord, body: RecordIn, source: Source, reported_by: str) -> RecordOut:
    """The stored record for an exact repeat of its request; a refusal for anything else.

    Aware datetimes compare as instants, so the same time written in another offset is
    still the same request."""
    stored = _out(row)
    same = (
        RecordIn.model_validate(stored.model_dump(include=set(RecordIn.model_fields))) == body
        and stored.source == source
        and stored.reported_by == reported_by
    )
    if not same:
        raise ActionRefused(REUSED, KEY_REUSED)
    return stored


async def _by_key(session: AsyncSession, enterprise_id: str, key: str) -> EnterpriseRecord | None:
    statement = select(EnterpriseRecord).where(
        col(EnterpriseRecord.enterprise_id) == enterprise_id,
        col(EnterpriseRecord.client_key) == key,
    )
    row: EnterpriseRecord | None = (await session.execute(statement)).scalar_one_or_none()
    return row


async def list_records(
    session: AsyncSession, enterprise_id: str, limit: int, offset: int
) -> RecordPage:
    where = col(EnterpriseRecord.enterprise_id) == enterprise_id
    total = await session.scalar(select(func.count()).select_from(EnterpriseRecord).where(where))
    rows = (
        await session.execute(
            select(EnterpriseRecord)
            .where(where)
            .order_by(col(EnterpriseRecord.started_at).desc(), col(EnterpriseRecord.id).desc())
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return RecordPage(items=[_out(r) for r in rows], total=int(total or 0))


async def last_visit(session: AsyncSession, enterprise_id: str, exclude: str) -> datetime | None:
    """When the enterprise's last finished visit (other than ``exclude``) ended."""
    value = await session.scalar(
        select(func.max(InspectionRecord.visit_finished_at)).where(
            col(InspectionRecord.enterprise_id) == enterprise_id,
            col(InspectionRecord.inspection_id) != exclude,
        )
    )
    return utc(value)


async def record_findings(
    session: AsyncSession,
    enterprise_id: str,
    since: datetime | None,
    until: datetime,
    rules: tuple[RecordRule, ...],
) -> list[RecordFinding]:
    """Late and missing records between ``since`` and ``until``, one finding per item."""
    statement = select(EnterpriseRecord).where(
        col(EnterpriseRecord.enterprise_id) == enterprise_id,
        col(EnterpriseRecord.started_at) < until.astimezone(UTC),
    )
    if since is not None:
        statement = statement.where(col(EnterpriseRecord.started_at) >= since.astimezone(UTC))
    rows = list((await session.execute(statement)).scalars())
    late: dict[str, list[EnterpriseRecord]] = defaultdict(list)
    missing: dict[str, list[EnterpriseRecord]] = defaultdict(list)
    for rule in rules:
        own = [r for r in rows if r.kind == rule.kind and r.source == "enterprise"]
        seen = [r for r in rows if r.kind == rule.kind and r.source == "device"]
        grace = timedelta(minutes=rule.grace_minutes)
        window = timedelta(minutes=rule.match_window_minutes)
        for record in own:
            started, recorded = utc(record.started_at), utc(record.recorded_at)
            assert started is not None and recorded is not None
            due = started if rule.record_before_start else (utc(record.ended_at) or started)
            if recorded > due + grace:
                late[rule.item].append(record)
        for observed in seen:
            at = utc(observed.started_at)
            assert at is not None
            if not any(abs((utc(r.started_at) or at) - at) <= window for r in own):
                missing[rule.item].append(observed)
    findings = []
    for item in sorted(set(late) | set(missing)):
        gone, slow = missing.get(item, []), late.get(item, [])
        answer = "missing_record" if gone else "late_record"
        parts = []
        if gone:
            parts.append(f"{len(gone)} operation(s) seen by devices with no record")
        if slow:
            parts.append(f"{len(slow)} record(s) made late")
        ids = sorted(r.id for r in (*gone, *slow) if r.id is not None)
        findings.append(
            RecordFinding(item_code=item, answer=answer, note="; ".join(parts), record_ids=ids)
        )
    return findings
