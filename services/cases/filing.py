"""Filing a report: the rules that turn a request into a case's workflow input.

Pure (no Temporal, no database): the type must be in the catalog, the point in a grid,
the source one the reporter may claim; the case id comes from the reporter's idempotency
key so that a retried create finds the same case.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from constants import (
    SA_CASE_TYPE,
    SA_GRID,
    SA_KIND,
    SA_MICRO_GRID,
    SA_PRIORITY,
    SA_SOURCE,
    SA_STATUS,
)
from schemas.cases.api import CreateCase
from schemas.cases.catalog import Catalog
from schemas.cases.workflow import OpenCaseInput
from schemas.platform.common import Actor, CaseSource
from schemas.platform.coordinates import Crs
from services.platform.geo import GridIndex

CASE_ID_NAMESPACE = uuid.UUID("6f1c9a52-8f0e-4d7e-9a35-3b1d2f0c4e11")

# Which sources each reporter may claim (the first is the default). The center may file on
# anyone's behalf (a call taken by phone); everyone else reports as what they are.
SOURCES_BY_ROLE: dict[str, tuple[CaseSource, ...]] = {
    "steward": ("steward",),
    "device": ("camera", "sensor"),
    "citizen": ("citizen",),
    "supervisor": ("supervisor", "steward", "camera", "sensor", "citizen", "open311"),
    "system": ("open311",),
}


class IntakeError(Exception):
    """A report that cannot become a case; names the field at fault (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def new_case_id(reporter: Actor, idempotency_key: str | None) -> str:
    """A fresh id, or the same id for the same reporter and idempotency key."""
    if idempotency_key:
        value = uuid.uuid5(CASE_ID_NAMESPACE, f"{reporter.role}:{reporter.id}:{idempotency_key}")
    else:
        value = uuid.uuid4()
    return "GP-" + value.hex[:16].upper()


def build_case_input(
    request: CreateCase,
    reporter: Actor,
    case_id: str,
    catalog: Catalog,
    grids: GridIndex,
    now: datetime | None = None,
) -> OpenCaseInput:
    """File a report: classify it by the catalog and place it in its grid, or refuse it."""
    if catalog.case_type(request.case_type) is None:
        raise IntakeError("case_type", f"unknown case type {request.case_type!r}")
    point = request.location.normalised()  # placement and dispatch work in WGS-84
    hit = grids.locate(point.lat, point.lon)
    if hit is None:
        raise IntakeError("location", "the point is outside every grid of the town")
    allowed = SOURCES_BY_ROLE.get(reporter.role, ())
    if not allowed:
        raise IntakeError("source", f"a {reporter.role} cannot report cases here")
    source = request.source or allowed[0]
    if source not in allowed:
        raise IntakeError("source", f"a {reporter.role} reports as {allowed[0]}, not {source}")
    return OpenCaseInput(
        case_id=case_id,
        source=source,
        reporter=reporter,
        description=request.description,
        location=point,
        reported_location=None if request.location.crs is Crs.WGS84 else request.location,
        address=request.address,
        grid_id=hit.grid_id,
        micro_grid_id=hit.micro_grid_id,
        reported_at=now or datetime.now(UTC),
        evidence=request.evidence,
        policy=catalog.policy_for(request.case_type),
    )


def start_options(inp: OpenCaseInput) -> dict[str, Any]:
    """Search attributes and Web UI texts of a new case, shared by every way a case starts."""
    case_type = inp.policy.case_type
    attributes: list[SearchAttributePair[Any]] = [
        SearchAttributePair(SA_KIND, "case"),
        SearchAttributePair(SA_CASE_TYPE, case_type.code),
        SearchAttributePair(SA_STATUS, "reported"),
        SearchAttributePair(SA_GRID, inp.grid_id),
        SearchAttributePair(SA_SOURCE, inp.source),
        SearchAttributePair(SA_PRIORITY, case_type.priority),
    ]
    if inp.micro_grid_id:
        attributes.append(SearchAttributePair(SA_MICRO_GRID, inp.micro_grid_id))
    summary = (
        f"{case_type.name_en} / {case_type.name_zh} in grid {inp.grid_id}, "
        f"reported by {inp.source} {inp.reporter.id}"
    )
    details = (
        f"Priority {case_type.priority}, department {inp.policy.department.name_en}. "
        f"{inp.description}"
    )
    return {
        "search_attributes": TypedSearchAttributes(attributes),
        "static_summary": summary[:200],
        "static_details": details,
    }
