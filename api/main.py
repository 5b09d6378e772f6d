"""The FastAPI application: a thin layer that starts, updates and queries workflows.

``create_app`` takes ready-made parts (tests pass their own Temporal client and database);
``app`` is what ``uvicorn api.main:app`` serves, building its parts from settings.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api import (
    body_limit,
    device_gate,
    device_lean,
    errors,
    metrics,
    open311_format,
    openapi,
    rate_limit,
    web,
)
from api.deps import AppState
from api.routers import (
    attachments,
    bot,
    calendar,
    cases,
    departments,
    devices,
    enterprises,
    health,
    inspection_reports,
    inspections,
    open311,
    pages,
    rectifications,
    rosters,
    satisfaction,
    stats,
    stewards,
    supervisors,
    suspension,
    tokens,
)
from schemas.cases.catalog import configured_catalog
from services import attachments as attachment_store
from services.attachments.library import Library
from services.attachments.signing import check_link_secret
from services.intake.database import DeviceDatabase
from services.intake.runtime import DeviceRuntime
from services.platform import log_redaction
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.geo import load_grid_index
from services.platform.revocation import RevocationCache
from services.platform.temporal import connect
from services.supervision.queue_cache import CountsCache
from settings import Settings, get_settings


def create_app(
    settings: Settings | None = None,
    temporal: Client | None = None,
    sessions: SessionFactory | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    # no credential (?token=, ?api_key=, Authorization...) in any log line of this process,
    # uvicorn's access log included, whatever log config uvicorn was started with
    log_redaction.install()
    check_link_secret(settings)  # fail fast: a weak download-link secret never serves
    attachment_store.configure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        session_factory = sessions
        if session_factory is None:
            engine = make_engine(settings.database_url)
            session_factory = make_session_factory(engine)
        client = temporal or await connect(settings)
        app.state.gridplus = AppState(
            settings=settings,
            temporal=client,
            sessions=session_factory,
            catalog=configured_catalog(
                settings.catalog_override, settings.catalog_time_scale, settings.working_time
            ),
            grids=await load_grid_index(session_factory),
            attachments=Library.from_settings(
                settings, attachment_store.storage_from_settings(settings), session_factory
            ),
            revocations=RevocationCache(settings.token_revocation_cache_seconds),
            queue_counts=CountsCache(settings.queue_counts_cache_seconds),
            devices=DeviceRuntime(
                settings,
                client,
                DeviceDatabase.beside(session_factory, settings.device_pool_size),
            ),
        )
        app.state.gridplus.devices.start()
        if temporal is None:  # a server process (tests pass their client, many apps each)
            # What start-up built (modules, the app, the grid index, the catalog) lives as
            # long as the process: out of the collector's full scans, whose pauses every
            # request waiting on this loop would share (as in ``worker.py``).
            gc.freeze()
        try:
            yield
        finally:
            await app.state.gridplus.devices.stop()  # commits and flushes what was accepted
        if engine is not None:
            await engine.dispose()

    app = FastAPI(
        title="gridplus",
        version="0.1.0",
        summary="Durable multi-department case handling for grid governance, on Temporal.",
        lifespan=lifespan,
    )
    # Refusals outside the routes: the problem shape, Open311's own document on its paths.
    answers = errors.edge_answers()
    answers.register(open311_format.PREFIX, open311_format.edge_answer)
    errors.install(app, answers)
    # Middleware, innermost first. Nothing outside the body cap reads a body: the limiter
    # decides from headers alone (a refused flood is not even read), metrics counts all.
    # Innermost, a good camera detection is served without FastAPI's routing and request
    # machinery (the same services and answers; anything else goes on to the route).
    device_lean.install(app)
    body_limit.install(app, settings, answers)
    device_gate.install(app, answers)  # back-pressure on /devices/: 503 before the body is read
    # The limiter sits inside the metrics middleware, which counts the 429s.
    rate_limit.install(app, settings, answers)
    metrics.install(app, settings)
    for module in (
        cases,
        departments,
        supervisors,
        stewards,
        stats,
        pages,
        health,
        bot,
        devices,
        open311,
        inspections,
        rectifications,
        enterprises,
        inspection_reports,
        tokens,
        calendar,
        rosters,
        suspension,
        attachments,
        satisfaction,
    ):
        app.include_router(module.router)
    app.include_router(attachments.files)  # signed download links (no bearer token)
    app.include_router(satisfaction.public)  # the citizen's signed rating links (no bearer)
    app.include_router(web.router)  # the workbench pages (api/web)
    openapi.install(app)  # after rate_limit's: corrects the whole document, 429s included
    return app


app = create_app()
