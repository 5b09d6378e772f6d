"""Fault tests run only when asked (``make faults`` sets ``GRIDPLUS_FAULTS=1``).

They start real processes and take minutes, and ``make test`` (pytest's default
``testpaths = ["tests"]``) must not run them a second time in CI, so without the variable
their modules are not even collected: nothing is skipped, which ``GRIDPLUS_FAIL_ON_SKIP``
would rightly count as a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.stack import FaultStack, open_stack

ENABLED = os.environ.get("GRIDPLUS_FAULTS") == "1"

collect_ignore_glob: list[str] = [] if ENABLED else ["test_*.py"]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[FaultStack]:
    """A whole gridplus of the test's own; every process and port freed afterwards."""
    async with open_stack(tmp_path) as fault_stack:
        yield fault_stack
