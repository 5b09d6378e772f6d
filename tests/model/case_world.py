"""The real world the case walker drives: its own production worker (so it can restart it),
the in-process API, stewards placed around every case, devices, and the cases of one walk.

Every walk (and every replay while shrinking) starts clean: the previous walk's open cases
are terminated and every steward is off duty, then each case gets fresh stewards of its own.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from sqlalchemy import text
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from constants import case_workflow_id
from schemas.cases.catalog import default_catalog
from schemas.cases.views import CaseView
from schemas.platform.common import Actor
from services.intake.devices import register_device
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.temporal_gateway import workflow_running
from settings import Settings
from tests.model.case_model import CaseModel
from tests.model.case_rules import Action
from tests.model.doors import Answer, Doors
from tests.model.pending import RULES, Rules
from tests.model.walk_worker import WalkWorker, pending_work
from tests.model.walker import Failure
from tests.support import grid_point, place_stewards

QUEUE = "gridplus-model"
RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
SUPERVISOR = Actor(role="supervisor", id="center-model")
CITIZEN = Actor(role="citizen", id="citizen-model")
SYSTEM = Actor(role="system", id="model-app")

# (source, case type): every intake source and every catalog path (steward_first,
# department_direct, both), closes_on_recovery types through their sensors
OPENINGS: list[tuple[str, str]] = [
    ("steward", "illegal_parking"),
    ("citizen", "garbage"),
    ("open311", "red_light_running"),
    ("supervisor", "pollution"),
    ("camera", "illegal_parking"),
    ("sensor", "smoke_detector"),
    ("sensor", "street_lamp"),
    ("supervisor", "red_light_running"),
]
SENSOR_TYPES = {"smoke_detector": "smoke_alarm", "street_lamp": "street_lamp"}


@dataclass
class Sent:
    """The last action sent to a case, to repeat it or reuse its key."""

    path: str
    actor: Actor | None  # None: a bot callback
    body: dict[str, Any]
    key: str | None
    action: Action | None
    answer: Answer


@dataclass
class Tracked:
    """One case of the walk: its model and what the walker knows about it."""

    index: int
    case_id: str
    source: str
    model: CaseModel
    stewards: list[str]
    device: tuple[str, str] | None = None  # (device id, key)
    run_id: str = ""
    runs: int = 0
    folded: int = 0
    ended: bool = False
    result: str | None = None
    last: Sent | None = None
    keys: dict[str, Sent] = field(default_factory=dict)  # accepted HTTP actions this run


class CaseWorld:
    """Owns the worker and the API client of the walk; ``Steps`` acts in it."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        sessions: SessionFactory,
        grids: GridIndex,
        settings: Settings,
        http: httpx.AsyncClient,
        rules: Rules = RULES,
    ) -> None:
        self.env = env
        self.client = env.client
        self.sessions = sessions
        self.grids = grids
        # a queue of its own, the worker's sandbox off (``tests.model.walk_worker``)
        self.settings = settings.model_copy(update={"task_queue": QUEUE, "workflow_sandbox": "off"})
        self.http = http
        self.rules = rules
        self.catalog = default_catalog()
        self.cases: list[Tracked] = []
        self.spare_off_duty: str = ""
        self.walk = 0
        self.runner = WalkWorker(env.client, sessions, http, self.settings)
        self._stack = AsyncExitStack()
        self.doors: Doors | None = None
        self.log: list[str] = []

    # ---- lifetime ------------------------------------------------------------------
    async def __aenter__(self) -> CaseWorld:
        app = create_app(self.settings, temporal=self.client, sessions=self.sessions)
        app.state.rate_limiter.enabled = False
        await self._stack.enter_async_context(app.router.lifespan_context(app))
        api = await self._stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gridplus", timeout=60
            )
        )
        self.doors = Doors.of(api, self.settings)
        await self.start_worker()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.terminate_open()
        await self.stop_worker()
        await self._stack.aclose()

    async def start_worker(self) -> None:
        """The walk's own production worker (``tests.model.walk_worker``)."""
        await self.runner.start()

    async def stop_worker(self) -> None:
        await self.runner.stop()

    async def restart_worker(self) -> None:
        """A worker restart: the next one replays every open case from its history."""
        await self.runner.restart()

    @property
    def door(self) -> Doors:
        assert self.doors is not None
        return self.doors

    async def terminate_open(self) -> None:
        for case in self.cases:
            if await workflow_running(self.client, case_workflow_id(case.case_id)):
                handle = self.client.get_workflow_handle(case_workflow_id(case.case_id))
                await handle.terminate("model walk over")
        self.cases = []

    # ---- a fresh walk ----------------------------------------------------------------
    async def begin(self, seed: int, openings: list[tuple[str, str]]) -> None:
        """Terminate the last walk's cases, everyone off duty, open this walk's cases."""
        await self.terminate_open()
        self.walk += 1
        self.log = []
        async with self.sessions() as session, session.begin():
            await session.execute(
                text(
                    "UPDATE steward SET duty_state = 'off_duty', active_tasks = 0, updated_at = :n"
                ),
                {"n": datetime.now(UTC)},
            )
        rng = random.Random(seed)
        grid_ids = rng.sample([f"G{n:03d}" for n in range(1, 109)], len(openings))
        tag = uuid.uuid4().hex[:5]
        for index, (source, what) in enumerate(openings):
            at = grid_point(self.grids, grid_ids[index])
            stewards = await place_stewards(
                self.sessions, self.grids, at, 4, prefix=f"M{tag}{index}", step_km=0.05
            )
            case = await self._open(index, source, what, at, tag)
            case.stewards = stewards
            self.cases.append(case)
        off = await place_stewards(self.sessions, self.grids, at, 1, prefix=f"M{tag}off")
        async with self.sessions() as session, session.begin():
            await session.execute(
                text("UPDATE steward SET duty_state = 'off_duty' WHERE id = :i"), {"i": off[0]}
            )
        self.spare_off_duty = off[0]

    async def _open(self, index: int, source: str, what: str, at: Any, tag: str) -> Tracked:
        door = self.door
        if source in ("camera", "sensor"):
            device_id = f"M{tag}{'CAM' if source == 'camera' else 'SNS'}{index}"
            sensor_type = what if source == "sensor" else None
            kind: Literal["camera", "sensor"] = "camera" if source == "camera" else "sensor"
            key = await register_device(
                self.sessions, self.grids, device_id, kind, at, sensor_type=sensor_type
            )
            now = datetime.now(UTC).isoformat()
            if source == "camera":
                body = {
                    "detection_type": what,
                    "confidence": 0.95,
                    "detected_at": now,
                    "snapshot_url": f"https://cams.example/{uuid.uuid4().hex}.jpg",
                }
                answer = await door.device_post(device_id, key, "detections", body)
            else:
                body = {"event": "alarm", "occurred_at": now}
                answer = await door.device_post(device_id, key, "events", body)
            expect(answer.status == 202, "open", f"{source} {what}: {answer} {answer.body}")
            case_id = answer.body["case_id"]
            case_type = SENSOR_TYPES.get(what, what)
            device: tuple[str, str] | None = (device_id, key)
        elif source == "open311":
            answer = await door.open311(SYSTEM, what, at.lat, at.lon)
            expect(answer.ok, "open", f"open311: {answer} {answer.body}")
            case_id, case_type, device = answer.body[0]["service_request_id"], what, None
        else:
            reporter = {"steward": Actor(role="steward", id=f"M{tag}rep"), "citizen": CITIZEN}
            actor = reporter.get(source, SUPERVISOR)
            body = {"case_type": what, "location": at.model_dump(), "description": "model walk"}
            if source == "supervisor":
                body["source"] = "supervisor"
            answer = await door.post("/cases", actor, body, key=f"mdl-{uuid.uuid4().hex}")
            expect(answer.status == 202, "open", f"{source} {what}: {answer} {answer.body}")
            case_id, case_type, device = answer.body["case_id"], what, None
        policy = self.catalog.policy_for(case_type)
        model = CaseModel(case_id, policy, rules=self.rules)
        return Tracked(index, case_id, source, model, [], device, runs=1)

    # ---- waiting for rest -------------------------------------------------------------
    async def settle(self, quiet_limit: int = 40, stuck_after: float = 900.0) -> None:
        """Until every running case rests: asked of the cases, never timed on the clock.

        A case rests when the server holds no workflow task and no activity for it (a
        local activity runs inside its workflow task), its timeline stopped growing and
        the projection has caught up with it. While anything is pending the walker waits,
        however long a loaded machine takes. It fails only when a case is quiet (nothing
        pending) yet not caught up for ``quiet_limit`` polls in a row (a projection that
        never comes: a defect), or when nothing changed at all for ``stuck_after`` seconds.
        """
        loop = asyncio.get_running_loop()
        previous: list[Any] | None = None
        changed_at = loop.time()
        stable = quiet_behind = 0
        while True:
            signature: list[Any] = []
            busy = behind = False
            for case in self.cases:
                if case.ended:
                    continue
                pending = await self.pending_work(case)
                if pending is None:
                    signature.append((case.case_id, "ended"))
                    continue
                view = await self.query(case)
                last = view.timeline[-1].seq if view.timeline else 0
                projected = await self.projected_seq(case)
                excused = not self.rules.confirm_keeps_rest and case.model.path == "both"
                busy = busy or pending
                behind = behind or last == 0 or (projected != last and not excused)
                signature.append((case.case_id, last, projected, view.status, view.waiting_for))
            if signature != previous:
                stable, changed_at = 0, loop.time()
            else:
                stable += 1
            quiet_behind = quiet_behind + 1 if behind and not busy and stable else 0
            if not busy and not behind and stable >= 1:
                return
            if quiet_behind >= quiet_limit:
                raise Failure("never_projected", f"cases rest unprojected: {signature}")
            if loop.time() - changed_at > stuck_after:
                raise Failure("settle_stuck", f"nothing moved for {stuck_after} s: {signature}")
            previous = signature
            await asyncio.sleep(0.05 if busy or stable == 0 else 0.2)

    async def pending_work(self, case: Tracked) -> bool | None:
        """Whether the server holds a workflow task or an activity for the case (None:
        ended; ``tests.model.walk_worker.pending_work``)."""
        return await pending_work(self.client, case_workflow_id(case.case_id))

    async def query(self, case: Tracked) -> CaseView:
        """The workflow's own view; a query that times out (a worker just restarted, or a
        machine so busy the one task slot is late) is asked again, up to six times."""
        handle = self.client.get_workflow_handle(case_workflow_id(case.case_id))
        for attempt in range(6):
            try:
                view: CaseView = await handle.query(
                    "view", result_type=CaseView, rpc_timeout=timedelta(seconds=10)
                )
                return view
            except RPCError:
                if attempt == 5:
                    raise
        raise AssertionError("unreachable")

    async def projected_seq(self, case: Tracked) -> int:
        async with self.sessions() as session:
            value = (
                await session.execute(
                    text("SELECT last_seq FROM case_record WHERE case_id = :c"), {"c": case.case_id}
                )
            ).scalar_one_or_none()
        return int(value or 0)

    async def free_stewards(self) -> set[str]:
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT id FROM steward WHERE duty_state = 'on_duty' "
                        "AND active_tasks < capacity AND id LIKE 'M%'"
                    )
                )
            ).all()
        return {str(r[0]) for r in rows}


def expect(ok: bool, signature: str, detail: str) -> None:
    if not ok:
        raise Failure(signature, detail)
