"""Open311 GeoReport v2 on top of our cases (http://wiki.open311.org/GeoReport_v2).

* Services are the catalog's case types; none needs extra attributes (``metadata`` false).
* A citizen's request is filed like any report, through ``services.cases.operations``
  (``build_case_input`` + ``start_case``), with source ``open311`` and the client
  application (authenticated by its ``api_key``) as reporter. The citizen's contact details
  go to ``open311_request`` only: never into the workflow's history, which cannot be erased.
* Status is ``closed`` once the case is closed or cancelled, else ``open``; ``status_notes``
  say where it stands (a cancellation gives the supervisor's reason) and
  ``agency_responsible`` is the department that holds it.
* Only requests that came in through Open311 are visible here: cases reported by stewards,
  cameras or sensors are internal.
* No offline geocoder exists for the town: ``address_string`` is kept as the address, but
  ``lat`` and ``long`` are required.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from temporalio.client import Client

from schemas.cases.api import CreateCase
from schemas.cases.catalog import CaseType, Catalog
from schemas.intake.open311 import Open311Submission
from schemas.intake.tables import Open311Request
from schemas.platform.common import Actor, Evidence, GeoPoint
from services.cases.filing import IntakeError, build_case_input, new_case_id
from services.cases.operations import start_case
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex

# What Open311 clients are told about this endpoint (one jurisdiction, answered at once).
JURISDICTION_ID = "wuzhen.gridplus.example"
SERVICE_TYPE: Literal["realtime", "batch"] = "realtime"

Row = dict[str, Any]


class Open311Error(Exception):
    """An error the spec's way: HTTP status, and (code, description) pairs for the body."""

    def __init__(self, status: int, *errors: tuple[int, str]) -> None:
        super().__init__("; ".join(description for _, description in errors))
        self.status = status
        self.errors = list(errors) or [(status, "error")]


def check_jurisdiction(jurisdiction_id: str | None) -> None:
    """We serve one jurisdiction: the parameter is optional, but must be ours if given."""
    if jurisdiction_id and jurisdiction_id != JURISDICTION_ID:
        raise Open311Error(404, (404, f"jurisdiction_id {jurisdiction_id!r} not found"))


def _service(catalog: Catalog, code: str) -> CaseType:
    case_type = catalog.case_type(code)
    if case_type is None:
        raise Open311Error(404, (404, f"service_code {code!r} not found"))
    return case_type


def services(catalog: Catalog) -> list[Row]:
    """GET services: one entry per case type, in the spec's field order."""
    rows = []
    for case_type in catalog.case_types:
        department = catalog.department(case_type.department)
        rows.append({
            "service_code": case_type.code,
            "service_name": case_type.name_en,
            "description": f"{case_type.name_en} / {case_type.name_zh}",
            "metadata": False,
            "type": SERVICE_TYPE,
            "keywords": ", ".join([case_type.name_zh, *case_type.skills]),
            "group": department.name_en if department else case_type.department,
        })  # fmt: skip
    return rows


def service_definition(catalog: Catalog, code: str) -> Row:
    """GET services/{code}: our services take no extra attributes."""
    return {"service_code": _service(catalog, code).code, "attributes": []}


def notice(catalog: Catalog, case_type: CaseType) -> str:
    department = catalog.department(case_type.department)
    name = department.name_en if department else case_type.department
    first = "a grid steward" if case_type.path == "steward_first" else name
    return f"Handled by {first}; {name} is responsible. Priority {case_type.priority} of 4."


def expected_by(case_type: CaseType, requested: datetime) -> datetime:
    sla = case_type.sla
    span = sla.accept + sla.resolve if case_type.path == "steward_first" else sla.department
    return requested + span


@dataclass(frozen=True)
class Intake311:
    """What creating a request needs (built from the API's state)."""

    client: Client
    sessions: SessionFactory
    catalog: Catalog
    grids: GridIndex
    task_queue: str


async def submit(
    ctx: Intake311, client_id: str, form: Open311Submission, idempotency_key: str | None = None
) -> Row:
    """POST requests: validate, start the case, keep the citizen's details; the spec's answer."""
    check_jurisdiction(form.jurisdiction_id)
    if not form.service_code:
        raise Open311Error(400, (400, "service_code was not provided"))
    case_type = _service(ctx.catalog, form.service_code)
    if form.lat is None or form.long is None:
        missing = "lat and long are" if form.lat is None and form.long is None else "both needed:"
        where = " (address_string / address_id cannot be geocoded here)"
        raise Open311Error(400, (400, f"lat/long: {missing} required{where}"))
    reporter = Actor(role="system", id=client_id)
    evidence = [Evidence(kind="photo", url=form.media_url)] if form.media_url else []
    request = CreateCase(
        case_type=case_type.code,
        location=GeoPoint(lat=form.lat, lon=form.long),
        description=form.description or "",
        address=form.address_string,
        evidence=evidence,
        source="open311",
    )
    case_id = new_case_id(reporter, idempotency_key)
    try:
        inp = build_case_input(request, reporter, case_id, ctx.catalog, ctx.grids)
    except IntakeError as error:
        field = "lat/long" if error.field == "location" else error.field
        raise Open311Error(400, (400, f"{field}: {error.message}")) from error
    async with ctx.sessions() as session:
        row = await session.get(Open311Request, case_id)
    if row is None:
        row = Open311Request(
            service_request_id=case_id, token=secrets.token_urlsafe(16), client_id=client_id,
            service_code=case_type.code, requested_at=inp.reported_at, lat=form.lat,
            lon=form.long, address_string=form.address_string,
            description=form.description or "", media_url=form.media_url, email=form.email,
            device_id=form.device_id, account_id=form.account_id, first_name=form.first_name,
            last_name=form.last_name, phone=form.phone,
        )  # fmt: skip
        try:
            async with ctx.sessions() as session, session.begin():
                session.add(row)
                await session.flush()  # the row, or nothing, goes with the case
                await start_case(ctx.client, inp, ctx.task_queue)
        except IntegrityError:  # the same idempotency key, concurrently
            async with ctx.sessions() as session:
                row = await session.get(Open311Request, case_id)
            assert row is not None
    reference = {"token": row.token} if SERVICE_TYPE == "batch" else {}
    return (reference or {"service_request_id": row.service_request_id}) | {
        "service_notice": notice(ctx.catalog, case_type),
        "account_id": row.account_id,
    }


async def token(sessions: SessionFactory, value: str) -> Row:
    """GET tokens/{token}: the request id behind a token."""
    async with sessions() as session:
        found = await session.scalar(
            select(col(Open311Request.service_request_id)).where(col(Open311Request.token) == value)
        )
    if found is None:
        raise Open311Error(404, (404, "token not found"))
    return {"service_request_id": found, "token": value}
