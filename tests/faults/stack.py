"""One whole gridplus for one fault test: dev server, worker processes, database, gateway.

Everything is real and local: the Temporal dev server and the workers are child processes
(``procs``), the database is the test's own (``scratch``), and the chat-bot gateway is
``tools.fake_gateway`` listening on loopback inside the test process, so the test sees each
message the worker sent, in order of arrival. ``open_stack`` tears all of it down however
the test ends: workers killed, server stopped, gateway closed, scratch database dropped.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client

from schemas.cases.api import CreateCase
from schemas.cases.catalog import Sla, default_catalog
from schemas.cases.workflow import OpenCaseInput
from schemas.platform.common import Actor
from services.cases.filing import build_case_input
from services.cases.operations import start_case
from services.platform.geo import GridIndex
from tests.faults.processes import DevServer, Proc, start_worker, worker_env
from tests.faults.scratch import ScratchDatabase
from tests.support import grid_point, place_stewards
from tools.fake_gateway import FakeGateway

SECRET = "faults-bot-secret"
REPORTER = Actor(role="citizen", id="citizen-faults")
CASE_TYPE = "illegal_parking"  # steward first; the department (traffic police) after
GRID = "G050"


def short_sla(accept: float, resolve: float, department: float, verify: float) -> Sla:
    """Deadlines in seconds, so that timers really fire while a test runs in real time."""
    return Sla(
        accept=timedelta(seconds=accept),
        resolve=timedelta(seconds=resolve),
        department=timedelta(seconds=department),
        verify=timedelta(seconds=verify),
    )


def short_case(grids: GridIndex, sla: Sla, number: int) -> OpenCaseInput:
    """A case filed as the API files it, with the policy's SLA swapped for ``sla``."""
    case_id = f"GP-F{uuid.uuid4().hex[:12].upper()}"
    request = CreateCase(
        case_type=CASE_TYPE, location=grid_point(grids, GRID), description=f"fault case {number}"
    )
    inp = build_case_input(request, REPORTER, case_id, default_catalog(), grids)
    case_type = inp.policy.case_type.model_copy(update={"sla": sla})
    policy = inp.policy.model_copy(update={"case_type": case_type})
    return inp.model_copy(update={"policy": policy})


@dataclass
class FaultStack:
    """The parts of one test's gridplus, and the moves a fault test makes with them."""

    directory: Path
    database: ScratchDatabase
    server: DevServer
    gateway: FakeGateway
    client: Client
    task_queue: str = field(default_factory=lambda: f"gridplus-faults-{uuid.uuid4().hex[:8]}")
    workers: list[Proc] = field(default_factory=list)

    @property
    def grids(self) -> GridIndex:
        assert self.database.grids is not None
        return self.database.grids

    @property
    def worker(self) -> Proc:
        """The newest worker process."""
        return self.workers[-1]

    async def start_worker(self) -> Proc:
        env = worker_env(
            self.server.address, self.task_queue, self.database.url, self.gateway.url, SECRET
        )
        log = self.directory / f"worker-{len(self.workers) + 1}.log"
        worker = await start_worker(env, log)
        self.workers.append(worker)
        return worker

    async def add_stewards(self, count: int, capacity: int) -> list[str]:
        """On-duty stewards 100 m apart east of the cases' point; the town has no others."""
        at = grid_point(self.grids, GRID)
        return await place_stewards(
            self.database.sessions,
            self.grids,
            at,
            count,
            prefix=f"F{uuid.uuid4().hex[:4]}",
            capacity=capacity,
            skills=["traffic"],
        )

    async def open_cases(self, count: int, sla: Sla) -> list[str]:
        """Start ``count`` cases on this test's task queue; their ids, in start order."""
        ids = []
        for number in range(count):
            inp = short_case(self.grids, sla, number)
            assert await start_case(self.client, inp, self.task_queue)
            ids.append(inp.case_id)
        return ids

    def logs(self) -> str:
        """The tails of every child's log: printed at teardown, shown when a test fails."""
        parts = []
        if self.server.proc is not None:
            parts.append(f"--- temporal (last start) ---\n{self.server.proc.tail(15)}")
        for number, worker in enumerate(self.workers, start=1):
            parts.append(f"--- worker {number} (pid {worker.pid}) ---\n{worker.tail(25)}")
        return "\n".join(parts)


@contextlib.asynccontextmanager
async def open_stack(directory: Path) -> AsyncIterator[FaultStack]:
    """Database, gateway, dev server and a client; torn down in reverse, whatever happens."""
    async with contextlib.AsyncExitStack() as exits:
        database = await ScratchDatabase.create(directory)
        exits.push_async_callback(database.drop)
        gateway = await exits.enter_async_context(FakeGateway(SECRET))
        server = DevServer(directory)
        exits.push_async_callback(server.stop)
        await server.start()
        stack = FaultStack(directory, database, server, gateway, await server.client())

        async def stop_workers() -> None:
            for worker in stack.workers:
                await worker.stop(5)
            print(stack.logs())

        exits.push_async_callback(stop_workers)
        yield stack
