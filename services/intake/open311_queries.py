"""Open311 GeoReport v2 reads: GET requests (with the spec's filters) and GET requests/{id}.

Requests are read from ``open311_request`` joined with the case projection: the request
row exists from the moment the case is filed, the projection follows it (a request not yet
projected reads ``open``). Newest first, and by default the last 90 days and 1000 at most,
as the spec says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlmodel import col

from schemas.cases.catalog import Catalog
from schemas.cases.tables import CaseEvent, CaseRecord
from schemas.intake.tables import Open311Request
from schemas.platform.common import Instant
from services.intake.open311 import Open311Error, Row, expected_by, notice
from services.platform.db import SessionFactory, utc

DEFAULT_SPAN = timedelta(days=90)
MAX_RESULTS = 1000
MAX_IDS = 200
ENDED = ("closed", "cancelled")
STATUS_NOTES = {
    "reported": "Received; being filed.",
    "filed": "Filed; a grid steward is being found.",
    "dispatched": "Offered to a grid steward.",
    "accepted": "A grid steward is handling it.",
    "escalated": "Referred to {department}.",
    "department_handling": "{department} is handling it.",
    "returned": "Under review by the linkage center.",
    "resolved": "Reported solved; waiting for verification.",
    "verified": "Verified; closing.",
    "closed": "Solved and verified.",
    "cancelled": "Cancelled.",
}


@dataclass(frozen=True)
class RequestQuery:
    """GET requests filters, already parsed (see ``parse_query``)."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()


INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)


def _when(name: str, value: str) -> datetime:
    """A w3 date-time with its zone, within ``Instant``'s years, in UTC; else 400 naming it."""
    try:
        return INSTANT.validate_python(value)
    except ValidationError as error:
        reason = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise Open311Error(400, (400, f"{name}: {reason}: {value!r}"[:300])) from error


def _listed(name: str, value: str | None, limit: int) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(v.strip() for v in (value or "").split(",") if v.strip()))
    if len(items) > limit or any(len(v) > 64 for v in items):
        raise Open311Error(400, (400, f"{name}: at most {limit} values of 64 characters"))
    return items


def parse_query(params: dict[str, str]) -> RequestQuery:
    """The spec's filters; a malformed one is a 400 naming it."""
    statuses = _listed("status", params.get("status"), 2)
    if set(statuses) - {"open", "closed"}:
        raise Open311Error(400, (400, "status: only open and closed exist"))
    start = _when("start_date", params["start_date"]) if params.get("start_date") else None
    end = _when("end_date", params["end_date"]) if params.get("end_date") else None
    if start and end and (end < start or end - start > DEFAULT_SPAN):
        raise Open311Error(400, (400, "start_date..end_date must be ordered, 90 days at most"))
    return RequestQuery(
        ids=_listed("service_request_id", params.get("service_request_id"), MAX_IDS),
        service_codes=_listed("service_code", params.get("service_code"), 50),
        start=start,
        end=end,
        statuses=statuses,
    )


def _window(query: RequestQuery, now: datetime) -> tuple[datetime, datetime]:
    if query.start and query.end:
        return query.start, query.end
    if query.start:
        return query.start, query.start + DEFAULT_SPAN
    end = query.end or now
    return end - DEFAULT_SPAN, end


async def find(
    sessions: SessionFactory, catalog: Catalog, query: RequestQuery, now: datetime | None = None
) -> list[Row]:
    """GET requests (and GET requests/{id}, as a one-id query); newest first, 1000 at most."""
    stmt = select(Open311Request, CaseRecord).join(
        CaseRecord,
        col(CaseRecord.case_id) == col(Open311Request.service_request_id),
        isouter=True,
    )
    if query.ids:  # "This overrides all other arguments."
        stmt = stmt.where(col(Open311Request.service_request_id).in_(query.ids))
    else:
        start, end = _window(query, now or datetime.now(UTC))
        stmt = stmt.where(col(Open311Request.requested_at).between(start, end))
        if query.service_codes:
            stmt = stmt.where(col(Open311Request.service_code).in_(query.service_codes))
        if set(query.statuses) == {"closed"}:
            stmt = stmt.where(col(CaseRecord.status).in_(ENDED))
        elif set(query.statuses) == {"open"}:
            stmt = stmt.where(
                col(CaseRecord.status).is_(None) | col(CaseRecord.status).not_in(ENDED)
            )
    stmt = stmt.order_by(col(Open311Request.requested_at).desc()).limit(MAX_RESULTS)
    async with sessions() as session:
        pairs = [(req, rec) for req, rec in (await session.execute(stmt)).all()]
        cancelled = [
            req.service_request_id for req, rec in pairs if rec and rec.status == "cancelled"
        ]
        reasons: dict[str, str | None] = {}
        if cancelled:
            notes = await session.execute(
                select(col(CaseEvent.case_id), col(CaseEvent.note))
                .where(col(CaseEvent.case_id).in_(cancelled))
                .where(col(CaseEvent.kind) == "cancelled")
            )
            reasons = {case_id: note for case_id, note in notes.all()}
    return [_request(catalog, req, rec, reasons.get(req.service_request_id)) for req, rec in pairs]


def _request(
    catalog: Catalog, req: Open311Request, rec: CaseRecord | None, reason: str | None
) -> Row:
    case_type = catalog.case_type(req.service_code)
    status = rec.status if rec else "reported"
    code = rec.department if rec else (case_type.department if case_type else "")
    department = catalog.department(code)
    agency = department.name_en if department else code or None
    notes = STATUS_NOTES.get(status, status).format(department=agency)
    if status == "cancelled" and reason:
        notes = reason
    requested = utc(req.requested_at) or req.requested_at
    updated = (utc(rec.closed_at) or utc(rec.updated_at)) if rec else None
    return {
        "service_request_id": req.service_request_id,
        "status": "closed" if status in ENDED else "open",
        "status_notes": notes,
        "service_name": case_type.name_en if case_type else req.service_code,
        "service_code": req.service_code,
        "description": req.description or None,
        "agency_responsible": agency,
        "service_notice": notice(catalog, case_type) if case_type else None,
        "requested_datetime": requested,
        "updated_datetime": updated or requested,
        "expected_datetime": expected_by(case_type, requested) if case_type else None,
        "address": req.address_string,
        "address_id": None,
        "zipcode": None,
        "lat": req.lat,
        "long": req.lon,
        "media_url": req.media_url,
    }
