"""The worker: runs every workflow and activity of gridplus on one task queue.

Built once per process: one database engine, one HTTP client, one instance of each
activity class. Run several for more throughput; they share nothing but Temporal and the
database. SIGINT/SIGTERM drain in-flight activities before exit (a SIGKILL is fine too:
Temporal hands the unfinished work to another worker).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Sequence
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import build_activities
from schemas.cases.catalog import default_catalog
from services.platform import observability
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.temporal import connect
from settings import Settings, get_settings
from workflows.registry import WORKFLOWS

# Side-effect-free modules shared by every workflow run instead of re-imported per run:
# immutable pydantic models, names, and the pure state/rule dataclasses of the workflows.
PASSTHROUGH = (
    "schemas",
    "constants",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "workflows.cases.state",
    "workflows.inspections.inspection_state",
)
# The workflow modules themselves, shared too unless the sandbox is "isolated".
WORKFLOW_MODULES = ("workflows",)


def workflow_runner(isolated: bool = False) -> SandboxedWorkflowRunner:
    """The sandbox, with our models (and, unless ``isolated``, our workflows) passed through.

    The sandbox re-imports a workflow's modules for every run. Rebuilding the pydantic
    schemas of ``schemas`` each time, and re-executing the workflow modules (class bodies,
    ``@workflow.defn`` checks, and a compile from source when bytecode caching is off,
    ``PYTHONDONTWRITEBYTECODE``), was most of the worker's CPU per case (``bench.intake``;
    figures in ``bench/RESULTS.md``). They hold definitions, no
    module state, so sharing them across runs is safe; Temporal's guide recommends passing
    through every deterministic module for this reason.

    What sharing gives up: inside a passed-through module the sandbox no longer swaps
    ``datetime.now``, ``random`` and friends for restricted proxies. The guard stays where
    it catches mistakes: the test suite runs every workflow path with ``isolated=True``
    (``GRIDPLUS_WORKFLOW_SANDBOX=isolated``), the replay tests replay every saved history
    that way, and ``tests/test_determinism.py`` rejects non-deterministic imports and calls
    in ``workflows/`` statically, including paths no test drives.
    """
    modules = PASSTHROUGH if isolated else (*PASSTHROUGH, *WORKFLOW_MODULES)
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules)
    )


def runner_for(mode: str) -> WorkflowRunner:
    """``off``: no sandbox (production); ``shared``/``isolated``: see ``workflow_runner``.

    With the workflow modules passed through, the sandbox no longer guards anything inside
    them, yet entering it on every activation (its import hooks and restricted builtins)
    still cost measurable CPU per case (``bench/RESULTS.md``). So production runs without it, as
    Temporal allows for performance, and the guard runs where mistakes are made: in the
    test suite (``isolated``), in replay, and in ``tests/test_determinism.py``.
    """
    if mode == "off":
        return UnsandboxedWorkflowRunner()
    return workflow_runner(isolated=mode == "isolated")


def build_worker(
    client: Client,
    session_factory: SessionFactory,
    http: httpx.AsyncClient,
    settings: Settings,
    *,
    task_queue: str | None = None,
    **options: Any,
) -> Worker:
    """The worker with every workflow and activity, as tests and production run it."""
    options.setdefault("max_cached_workflows", settings.worker_max_cached_workflows)
    options.setdefault("workflow_runner", runner_for(settings.workflow_sandbox))
    options.setdefault("interceptors", observability.worker_interceptors())
    options.setdefault("max_concurrent_activities", 200)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=build_activities(session_factory, http, settings),
        **options,
    )


async def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = get_settings()  # fails fast on a bad setting, before anything starts
    observability.setup_worker(settings.worker_metrics_address)
    # one INFO line per delivered message is noise: the notification table records each
    logging.getLogger("httpx").setLevel(logging.WARNING)
    default_catalog()  # a broken catalog override fails the start, not the first message
    client = await connect(settings)
    # What is alive now (modules, models, clients) lives as long as the process: keep it out
    # of the collector's full scans. (Raising the collection thresholds too saved CPU per
    # case, but then the worker's memory no longer levelled off: bench/RESULTS.md.)
    gc.freeze()
    # No ping before every checkout (a round trip per activity): a connection that died
    # with the database fails its activity, SQLAlchemy then drops the whole pool, and
    # Temporal's retry runs on a fresh connection (tests/faults/test_database_down.py).
    engine = make_engine(settings.database_url, pool_pre_ping=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with httpx.AsyncClient(timeout=10.0) as http:
        worker = build_worker(client, make_session_factory(engine), http, settings)
        async with worker:
            logging.info(
                "polling task queue %s at %s on the %s event loop",
                settings.task_queue,
                settings.temporal_address,
                type(loop).__module__.split(".")[0],  # "uvloop", or "asyncio" without it
            )
            await stop.wait()
    await engine.dispose()


def run_forever() -> None:
    """Run ``main`` on uvloop where it is installed (not on Windows), else on asyncio's loop.

    Most of the worker's CPU per case is event-loop work, not ours: the wake-ups of the
    Temporal bridge's threads and of each database call's thread, and a loop turn per
    local activity (``bench/RESULTS.md``). uvloop does that work in C; measured side by
    side in ``bench.intake`` it took about a tenth off the worker's CPU per case. Workflow
    code never sees it: workflows run on the SDK's own deterministic loop.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, or a build without it
        asyncio.run(main())
        return
    uvloop.run(main())


if __name__ == "__main__":
    run_forever()
