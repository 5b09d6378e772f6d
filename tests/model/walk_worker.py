"""The production worker a model walk owns, so that it can restart it mid-walk.

Shared by the case walk (``tests.model.case_world``) and the inspection, rectification and
campaign walks: a walk starts it instead of the suite's ``worker`` fixture, and a
``worker`` step stops it and starts a new one, which replays every open workflow of the
walk from its history (the new worker has nothing cached).
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from services.platform.db import SessionFactory
from settings import Settings
from worker import build_worker


class WalkWorker:
    """One production worker at a time on ``settings.task_queue``; ``restart`` swaps it."""

    def __init__(
        self, client: Client, sessions: SessionFactory, http: httpx.AsyncClient, settings: Settings
    ) -> None:
        self.client, self.sessions, self.http = client, sessions, http
        # the production runner (no sandbox): the walker's worker keeps no cache (see
        # ``start``), and re-importing the workflow modules per task would be 6x slower
        self.settings = settings.model_copy(update={"workflow_sandbox": "off"})
        self.worker: Worker | None = None
        self.restarts = 0

    async def __aenter__(self) -> WalkWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """The production worker, uncached and taking one workflow task at a time.

        Uncached: the Java test server never moves a query or an update off a stopped
        worker's sticky queue (a restarted walk hung on it), and every workflow task then
        replays its history, so every step is also a replay test of the workflows it
        touches. One task at a time: profiling a fixed-seed walk showed it idle, not busy.
        Uncached, a workflow task for another workflow evicts one whose local activities
        (projection, reservation, messages) are in flight; they are cancelled and the
        workflow waits for its workflow task timeout (10 s) to run them again, over and
        over when eight cases move at once, which is what made a walk take many minutes and
        time out while settling on a loaded machine. With one task slot a workflow's local
        activities finish before the next one's task is taken.
        """
        self.worker = build_worker(
            self.client,
            self.sessions,
            self.http,
            self.settings,
            max_cached_workflows=0,
            max_concurrent_workflow_tasks=1,
        )
        await self.worker.__aenter__()

    async def stop(self) -> None:
        if self.worker is not None:
            worker, self.worker = self.worker, None
            await worker.__aexit__(None, None, None)

    async def restart(self) -> None:
        """A worker restart: the next one replays every open workflow from its history."""
        self.restarts += 1
        await self.stop()
        await self.start()


async def sleep(env: WorkflowEnvironment, jump: timedelta, chunk: timedelta) -> None:
    """Skip ``jump`` of the test server's time in steps of at most ``chunk``: an uncached
    worker replays a workflow for every timer that fires on the way (an unassigned
    inspection retries its booking every 4 hours), and one skip must end within the test
    server's 30 s."""
    stuck = 0
    while jump > timedelta(0):
        step = min(jump, chunk)
        before = await env.get_current_time()
        try:
            await env.sleep(step)
        except RPCError as error:
            # on a machine busy with other suites a skip can outlive the client's deadline
            # while the server goes on skipping: count what it did and skip the rest
            if "timeout" not in error.message.lower() or stuck >= 3:
                raise
            moved = await env.get_current_time() - before
            stuck = stuck + 1 if moved <= timedelta(0) else 0
            jump -= max(moved, timedelta(0))
            continue
        jump -= step


async def pending_work(client: Client, workflow_id: str) -> bool | None:
    """Whether the server holds a workflow task or an activity for the workflow (None:
    ended). A local activity keeps its workflow task open, so it counts too; so does a
    workflow task lost with a restarted worker, until its timeout hands it to the next."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    response = await client.workflow_service.describe_workflow_execution(request)
    running = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    if response.workflow_execution_info.status != running:
        return None
    return response.HasField("pending_workflow_task") or len(response.pending_activities) > 0
