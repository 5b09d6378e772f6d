"""A database of the fault test's own, and a way to take it down and bring it back.

PostgreSQL (``GRIDPLUS_TEST_DATABASE_URL`` set): a scratch database created on that server
and dropped afterwards, because other suites drop and recreate the tables of ``test``, and
because an outage must hit this test's database only. Otherwise a SQLite file of the test.

What "down" means, honestly:

* PostgreSQL: ``ALTER DATABASE ... ALLOW_CONNECTIONS false`` and every backend of the
  scratch database terminated. Open pooled connections die; new ones are refused
  ("database ... is not currently accepting connections"). A real outage, as far as the
  worker can tell, except that it ends exactly when we say.
* SQLite has no server to stop, and moving or chmod-ing the file does nothing to the
  connections already open on it. What we can do is what a stuck writer does: hold an
  ``EXCLUSIVE`` transaction from another connection. Every write of the worker then waits
  its ``busy_timeout`` (30 s) and fails with "database is locked" (or its local activity
  times out first, after 30 s); reads still work (WAL). So on SQLite the outage is
  "no write can commit", and it must last longer than 30 s to cause failures and retries
  rather than mere waiting.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Literal

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.geo import GridIndex, load_grid_index
from services.platform.migrate import upgrade
from tools.demo_data import build_town, load_demo_data

Kind = Literal["sqlite", "postgresql"]


async def _admin(url: str, *statements: tuple[str, dict[str, str]]) -> None:
    """Run statements outside any transaction (``CREATE DATABASE`` needs that) on ``url``."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            for sql, params in statements:
                await connection.execute(text(sql), params)
    finally:
        await engine.dispose()


class ScratchDatabase:
    """Migrated, with the demo town's grids and departments and no stewards (tests add theirs)."""

    def __init__(self, url: str, kind: Kind, admin_url: str | None, name: str) -> None:
        self.url = url
        self.kind = kind
        self.name = name
        self._admin_url = admin_url  # the server's URL we create/drop/lock the scratch from
        self._engine = make_engine(url)
        self.sessions: SessionFactory = make_session_factory(self._engine)
        self.grids: GridIndex | None = None
        self._lock: sqlite3.Connection | None = None
        self.down = False

    @classmethod
    async def create(cls, directory: Path) -> ScratchDatabase:
        base = os.environ.get("GRIDPLUS_TEST_DATABASE_URL", "")
        if base.startswith("postgresql"):
            name = f"gridplus_faults_{uuid.uuid4().hex[:10]}"
            await _admin(base, (f'CREATE DATABASE "{name}"', {}))
            url = make_url(base).set(database=name).render_as_string(hide_password=False)
            database = cls(url, "postgresql", base, name)
        else:
            path = directory / "gridplus.db"
            database = cls(f"sqlite+aiosqlite:///{path}", "sqlite", None, str(path))
        await upgrade(database.url)
        await load_demo_data(database.sessions, build_town(seed=17, stewards=0))
        database.grids = await load_grid_index(database.sessions)
        return database

    async def drop(self) -> None:
        """Bring it back if a test left it down, and drop a PostgreSQL scratch database."""
        if self.down:
            await self.bring_up()
        await self._engine.dispose()
        if self.kind == "postgresql" and self._admin_url:
            await _admin(
                self._admin_url, (f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', {})
            )

    # ---- the outage ------------------------------------------------------------------
    async def take_down(self) -> None:
        """See the module docstring for what this does on each database."""
        if self.kind == "postgresql":
            assert self._admin_url is not None
            await _admin(
                self._admin_url,
                (f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false', {}),
                (
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()",
                    {"name": self.name},
                ),
            )
        else:
            self._lock = await asyncio.to_thread(self._sqlite_lock)
        self.down = True

    def _sqlite_lock(self) -> sqlite3.Connection:
        # check_same_thread=False: taken and released from different to_thread workers
        lock = sqlite3.connect(self.name, timeout=60, isolation_level=None, check_same_thread=False)
        lock.execute("BEGIN EXCLUSIVE")
        return lock

    async def bring_up(self) -> None:
        if self.kind == "postgresql":
            assert self._admin_url is not None
            await _admin(
                self._admin_url, (f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true', {})
            )
        elif self._lock is not None:
            lock, self._lock = self._lock, None
            await asyncio.to_thread(_release, lock)
        self.down = False

    async def probe_write(self) -> str | None:
        """What a fresh writer gets right now: None if a write commits, else the error."""
        if self.kind == "postgresql":
            try:
                await _admin(self.url, ("UPDATE grid SET name = name WHERE false", {}))
            except (OSError, DBAPIError) as error:
                return f"{type(error).__name__}: {str(error).splitlines()[0]}"
            return None
        return await asyncio.to_thread(self._sqlite_probe)

    def _sqlite_probe(self) -> str | None:
        probe = sqlite3.connect(self.name, timeout=1, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError as error:
            return f"OperationalError: {error}"
        finally:
            probe.close()
        return None


def _release(lock: sqlite3.Connection) -> None:
    lock.execute("ROLLBACK")
    lock.close()
