"""The databases a migration test runs on: a fresh SQLite file, and PostgreSQL when
``GRIDPLUS_TEST_DATABASE_URL`` points at one (the ``database_url`` fixture, imported by the
tests that use it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
    url = os.environ.get("GRIDPLUS_TEST_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        pytest.skip("GRIDPLUS_TEST_DATABASE_URL does not point at PostgreSQL")
    return url
