"""Annotated dependencies of the routes: Temporal client, DB session, principal, services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.auth import authenticate
from api.security import InvalidToken
from schemas.cases.catalog import Catalog
from schemas.platform.common import Actor, Line, Role
from services.attachments.library import Library
from services.intake.runtime import DeviceRuntime
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.platform.revocation import RevocationCache
from services.supervision import scope as grid_scope
from services.supervision.queue import QueueRow
from services.supervision.queue_cache import CountsCache, InFlight
from settings import Settings


@dataclass
class AppState:
    """What the API holds for its lifetime: built once at start-up (see ``api.main``)."""

    settings: Settings
    temporal: Client
    sessions: SessionFactory
    catalog: Catalog
    grids: GridIndex
    attachments: Library
    revocations: RevocationCache = field(default_factory=RevocationCache)
    devices: DeviceRuntime | None = None  # device intake: key cache, writer, coalescer
    queue_counts: CountsCache = field(default_factory=lambda: CountsCache(0))
    # the center queue's list reads running now, shared by identical loads (never kept)
    queue_lists: InFlight[list[QueueRow]] = field(default_factory=InFlight)


async def get_state(request: Request) -> AppState:
    """``async``: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop
    on every request (a fifth of the API's time on the device path, py-spy, issue 18)."""
    state: AppState = request.app.state.gridplus
    return state


State = Annotated[AppState, Depends(get_state)]


def get_temporal(state: State) -> Client:
    return state.temporal


async def get_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


# Declared as the OpenAPI security scheme of every route that needs a token (so clients and
# fuzzers know, and Schemathesis' ``ignored_auth`` check runs); the 401s stay ours.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="gp1",
    description="a gridplus token (`python -m api.security ROLE SUBJECT`)",
)


async def current_principal(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Actor:
    """The caller, from ``Authorization: Bearer <token>``; 401 without a valid token
    (forged, expired, too long-lived or revoked: ``api.auth``)."""
    if credentials is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    try:
        return await authenticate(
            state.settings, state.sessions, state.revocations, credentials.credentials
        )
    except InvalidToken as error:
        raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from error


TemporalClient = Annotated[Client, Depends(get_temporal)]
Session = Annotated[AsyncSession, Depends(get_session)]
CurrentPrincipal = Annotated[Actor, Depends(current_principal)]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="repeat the same key to make a retried request do nothing new",
    ),
]


CaseIdPath = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="a case id"),
]
# An inspection, rectification or round id in a path: one line, no control character (a NUL
# would reach PostgreSQL and Temporal as is).
WorkflowKey = Annotated[Line, Path(min_length=1, max_length=128)]
# An enterprise id in a path (routes and the dependencies that read it must agree on it).
EnterpriseId = Annotated[str, Path(max_length=24, pattern=r"^[A-Za-z0-9_-]+$")]


def require(*roles: Role) -> object:
    """A dependency that lets only the given roles through (403 otherwise)."""

    def check(principal: CurrentPrincipal) -> Actor:
        if principal.role not in roles:
            raise HTTPException(403, f"a {principal.role} may not do this")
        return principal

    return Depends(check)


Supervisor = Annotated[Actor, require("supervisor")]
DepartmentPrincipal = Annotated[Actor, require("department")]


async def principal_scope(state: State, principal: CurrentPrincipal) -> grid_scope.GridScope:
    """The caller's grid scope (``services.supervision.scope``): the whole town except for
    a supervisor whose account oversees some grids."""
    return await grid_scope.scope_of(state.sessions, principal)


Scope = Annotated[grid_scope.GridScope, Depends(principal_scope)]


async def case_in_scope(case_id: CaseIdPath, state: State, scope: Scope) -> None:
    """403 when the case of the path lies outside the caller's grids: the one check every
    ``/supervisors/cases/{case_id}/...`` route runs (a router dependency)."""
    try:
        await grid_scope.check_case(state.sessions, scope, case_id)
    except grid_scope.OutOfScope as error:
        raise HTTPException(403, str(error)) from error
