"""``schemas.tables`` registers exactly the tables the migrations create: each domain keeps its
tables in its own package, and none is left out of Alembic's metadata or the test schema.

Runs on a fresh SQLite file, and also on PostgreSQL when ``GRIDPLUS_TEST_DATABASE_URL``
points at one (migrated to head, as the suite leaves it).
"""

from __future__ import annotations

from sqlalchemy import inspect
from sqlmodel import SQLModel

from schemas.tables import TABLES
from services.platform.db import make_engine
from services.platform.migrate import upgrade
from tests.migration_support import database_url

__all__ = ["database_url"]  # a fixture, imported


def test_every_table_is_registered_once() -> None:
    names = [table.__tablename__ for table in TABLES]
    assert len(names) == len(set(names))
    assert set(SQLModel.metadata.tables) == set(names)


async def test_the_registry_is_what_the_migrations_create(database_url: str) -> None:
    await upgrade(database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            created = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    assert set(created) - {"alembic_version"} == {table.__tablename__ for table in TABLES}
