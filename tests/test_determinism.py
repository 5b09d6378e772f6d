"""Workflow code may not reach for the clock, randomness or I/O: checked statically.

Production workers share the workflow modules across runs (``worker.workflow_runner``), so
the sandbox's run-time proxies for ``datetime.now`` and friends do not apply inside them.
The suite's own workers run the strict sandbox, which catches such a call on every path a
test drives; this test also covers the paths none drives, by reading the source of
``workflows/``, ``schemas/`` and ``constants.py`` (the modules a workflow runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from settings import Settings
from worker import runner_for

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_FILES = sorted((ROOT / "workflows").rglob("*.py"))
SHARED_FILES = [ROOT / "constants.py", *sorted((ROOT / "schemas").rglob("*.py"))]

# What workflow code may import: Temporal's workflow API, the standard library's pure parts,
# our models, names and the other workflow modules.
ALLOWED_ROOTS = {
    "__future__",
    "asyncio",
    "collections",
    "contextlib",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "hashlib",  # digests of action bodies (workflows.kit.ledger): pure functions
    "itertools",
    "math",
    "typing",
    "temporalio",
    "pydantic",
    "schemas",
    "constants",
    "workflows",
}
ALLOWED_TEMPORALIO = {
    "temporalio",
    "temporalio.workflow",
    "temporalio.common",
    "temporalio.exceptions",
}
# Calls that read the clock, randomness, the process or the outside world.
BANNED_METHODS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "urandom"}
BANNED_FUNCTIONS = {"open", "print", "input", "hash", "id", "exec", "eval"}


def imports_of(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def banned_calls(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        on_workflow = isinstance(func, ast.Attribute) and (
            isinstance(func.value, ast.Name) and func.value.id == "workflow"
        )  # workflow.now() and workflow.time() are Temporal's deterministic clock
        if isinstance(func, ast.Attribute) and func.attr in BANNED_METHODS and not on_workflow:
            found.append((node.lineno, f".{func.attr}()"))
        elif isinstance(func, ast.Name) and func.id in BANNED_FUNCTIONS:
            found.append((node.lineno, f"{func.id}()"))
    return found


def problems_in(path: Path, *, check_imports: bool) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    problems = [f"{where}:{line}: calls {call}" for line, call in banned_calls(tree)]
    if check_imports:
        for line, module in imports_of(tree):
            root = module.split(".", 1)[0]
            if root not in ALLOWED_ROOTS or (
                root == "temporalio" and module not in ALLOWED_TEMPORALIO
            ):
                problems.append(f"{where}:{line}: imports {module}")
    return problems


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=[p.name for p in WORKFLOW_FILES])
def test_workflow_module_is_deterministic(path: Path) -> None:
    assert problems_in(path, check_imports=True) == []


@pytest.mark.parametrize("path", SHARED_FILES, ids=[p.name for p in SHARED_FILES])
def test_models_read_no_clock(path: Path) -> None:
    """Models are built inside workflows too: a ``default_factory=datetime.now`` would differ
    between the first run and a replay."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    factories = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword)
        and node.arg == "default_factory"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr in BANNED_METHODS
    ]
    assert problems_in(path, check_imports=False) + [f"line {n}" for n in factories] == []


def test_checker_catches_what_it_is_for(tmp_path: Path) -> None:
    """The check itself: each kind of mistake in a made-up workflow file is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import random\nimport httpx\nfrom temporalio.client import Client\n"
        "from datetime import datetime\nimport time\n"
        "from temporalio import workflow\n"
        "def f():\n    workflow.now()\n    datetime.now()\n    time.time()\n"
        "    open('x')\n    hash('k')\n",
        encoding="utf-8",
    )
    found = problems_in(bad, check_imports=True)
    assert not any("line 8" in p or ":8:" in p for p in found), found  # workflow.now() is fine
    for expected in (
        "imports random",
        "imports httpx",
        "imports temporalio.client",
        "imports time",
        "calls .now()",
        "calls .time()",
        "calls open()",
        "calls hash()",
    ):
        assert any(expected in p for p in found), (expected, found)


def test_suite_workers_run_the_strict_sandbox() -> None:
    """``tests/conftest.py`` sets the suite's workers to re-import workflows per run."""
    assert Settings().workflow_sandbox == "isolated"


def test_production_runs_unsandboxed_and_the_suite_isolated() -> None:
    """The default (production) has no sandbox; ``isolated`` re-imports the workflows."""
    assert Settings.model_fields["workflow_sandbox"].default == "off"
    assert isinstance(runner_for("off"), UnsandboxedWorkflowRunner)
    isolated = runner_for("isolated")
    shared = runner_for("shared")
    assert isinstance(isolated, SandboxedWorkflowRunner)
    assert isinstance(shared, SandboxedWorkflowRunner)
    assert "workflows" not in isolated.restrictions.passthrough_modules
    assert "workflows" in shared.restrictions.passthrough_modules
