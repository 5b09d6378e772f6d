"""Bring a database to the newest schema with Alembic (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from services.platform.db import make_engine
from settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Run ``alembic upgrade`` on ``url`` inside this event loop."""
    await _run(url, command.upgrade, revision)


async def downgrade(url: str, revision: str) -> None:
    """Run ``alembic downgrade`` on ``url`` inside this event loop (benchmarks comparing an
    older tree go back to its schema)."""
    await _run(url, command.downgrade, revision)


async def _run(url: str, step: Callable[[Config, str], None], revision: str) -> None:
    engine = make_engine(url)

    def _do(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        step(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_do)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=None, help="database URL (default: settings)")
    args = parser.parse_args()
    asyncio.run(upgrade(args.url or get_settings().database_url))


if __name__ == "__main__":
    main()
