"""The device path's own connections to PostgreSQL (issue 18).

Why not the API's pool: that pool pings every connection it hands out (``pool_pre_ping``,
so that a page after a database restart is served, not failed) and runs every read in a
transaction. At camera rates the device path checks out connections hundreds of times a
second (group commits, the key and scene caches' reads), and the ping, the ``BEGIN`` and the
``ROLLBACK`` were each a round trip: about a quarter of the API's CPU at 300 detections a
second (py-spy, ``bench/RESULTS.md``). Here:

* no ping: a connection that died with the database fails its statement: the posts
  waiting on it get 503 with ``Retry-After`` and are sent again (with the same event ids:
  a row that did get written answers the retry), and SQLAlchemy drops the pool, so the
  retry gets a fresh connection;
* ``sessions``: transactions of several statements (the merge registry, the coalescer);
* ``autocommit``: work that is one statement, so atomic by itself: the caches' ``SELECT`` s
  and the group-commit writer's multi-row ``INSERT`` (one statement for up to
  ``MAX_BATCH`` rows), without the ``BEGIN`` and ``COMMIT``/``ROLLBACK`` round trips.

On SQLite (the embedded default) the device path shares the API's one connection: SQLite
has one writer at a time, and a second pool would only make writers collide.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from services.platform.db import SessionFactory, make_engine, make_session_factory


@dataclass(frozen=True)
class DeviceDatabase:
    """Sessions for the device path's transactions and for its single statements."""

    sessions: SessionFactory
    autocommit: SessionFactory
    engine: AsyncEngine | None = None  # opened here, disposed by ``close``

    @classmethod
    def shared(cls, sessions: SessionFactory) -> DeviceDatabase:
        """The API's own sessions for both (SQLite, a script, a test's own factory)."""
        return cls(sessions, sessions)

    @classmethod
    def beside(cls, api_sessions: SessionFactory, pool_size: int) -> DeviceDatabase:
        """A pool of its own next to the API's on PostgreSQL, the API's sessions otherwise."""
        bind = api_sessions.kw.get("bind")
        if not isinstance(bind, AsyncEngine) or bind.dialect.name != "postgresql":
            return cls.shared(api_sessions)
        engine = make_engine(
            bind.url.render_as_string(hide_password=False),
            pool_pre_ping=False,
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        single = engine.execution_options(isolation_level="AUTOCOMMIT")
        return cls(make_session_factory(engine), make_session_factory(single), engine)

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
