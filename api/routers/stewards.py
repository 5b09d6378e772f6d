"""The steward roster, for the linkage center: import it, read it."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlmodel import col

from api.body_limit import PREFIX_CAPS
from api.deps import Session, State, Supervisor
from schemas.cases.api import Problem
from schemas.platform.common import Line
from schemas.stewards.tables import Steward
from services.platform.db import utc
from services.stewards import registry as steward_registry

MAX_IMPORT_BYTES = PREFIX_CAPS["/stewards/import"]

# the import's body is capped while it streams in (``api.body_limit.PREFIX_CAPS``)
router = APIRouter(prefix="/stewards", tags=["stewards"])


class ImportResult(BaseModel):
    created: int
    updated: int


class StewardOut(BaseModel):
    id: str
    name: str
    grid_id: str
    industry: str
    skills: list[str]
    language: str
    duty_state: str
    capacity: int
    active_tasks: int
    lat: float | None
    lon: float | None
    location_at: str | None


class StewardPage(BaseModel):
    items: list[StewardOut]
    total: int


@router.post(
    "/import",
    response_model=ImportResult,
    responses={status: {"model": Problem} for status in (401, 403, 413, 415, 422)},
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {"type": "array", "items": steward_registry.ROW_SCHEMA}
                },
            },
            "required": True,
        }
    },
)
async def import_roster(request: Request, state: State, _: Supervisor) -> ImportResult:
    """Import stewards from CSV (header row) or a JSON array; all rows or none."""
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise HTTPException(413, f"at most {MAX_IMPORT_BYTES} bytes per import")
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    try:
        text = body.decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError as error:
        raise HTTPException(422, f"body: not UTF-8 text ({error.reason})") from error
    if content_type == "application/json":
        try:
            rows = steward_registry.parse_json(text)
        except json.JSONDecodeError as error:
            raise HTTPException(422, f"body: invalid JSON ({error.msg})") from error
    elif content_type in ("text/csv", "text/plain"):
        rows = steward_registry.parse_csv(text)
    else:
        raise HTTPException(415, "send text/csv or application/json")
    report = await steward_registry.import_stewards(state.sessions, rows)
    return ImportResult(created=report.created, updated=report.updated)


@router.get(
    "", response_model=StewardPage, responses={401: {"model": Problem}, 403: {"model": Problem}}
)
async def list_stewards(
    session: Session,
    _: Supervisor,
    grid_id: Annotated[Line | None, Query(max_length=64)] = None,
    duty_state: Annotated[str | None, Query(pattern="^(on_duty|off_duty|busy)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> StewardPage:
    """The roster with live duty state and load, for the center's overview."""
    conditions = []
    if grid_id is not None:
        conditions.append(col(Steward.grid_id) == grid_id)
    if duty_state is not None:
        conditions.append(col(Steward.duty_state) == duty_state)
    total = (
        await session.execute(select(func.count()).select_from(Steward).where(*conditions))
    ).scalar_one()
    rows = (
        await session.execute(
            select(Steward).where(*conditions).order_by(col(Steward.id)).limit(limit).offset(offset)
        )
    ).scalars()
    items = [
        StewardOut(
            **r.model_dump(exclude={"location_at", "phone", "synthetic"}),
            location_at=(seen.isoformat() if (seen := utc(r.location_at)) else None),
        )
        for r in rows
    ]
    return StewardPage(items=items, total=int(total))
