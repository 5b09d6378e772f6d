"""Liveness and readiness: is the process up, can it reach Temporal and the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import State
from schemas.cases.api import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process answers."""
    return Health(status="ok", checked_at=datetime.now(UTC))


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(state: State) -> JSONResponse:
    """Temporal and the database both answer within two seconds each."""
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(state.temporal.service_client.check_health(), 2)
        checks["temporal"] = "ok"
    except Exception as error:  # any failure means not ready, whatever it is
        checks["temporal"] = f"unavailable: {type(error).__name__}"
    try:
        async with state.sessions() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), 2)
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"unavailable: {type(error).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = Health(
        status="ok" if ready else "unavailable", checks=checks, checked_at=datetime.now(UTC)
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)
