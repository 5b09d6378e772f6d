"""``InspectionCampaignWorkflow`` against its model: seeded random walks on the
time-skipping server with the production worker (see ``tests.model.walker``).

A walk starts a round over four enterprises of one grid (two inspectors, at most two
inspections in flight) through the API, then walks the inspections the round starts as
the inspection walk does (visits, results, critical hazards, cancellations, keys, proof,
re-inspection, enforcement, time jumps across every deadline and the round's target),
and in between asks the API to start the round again (the center with the same or
another request, other roles), reads its progress as every role, and restarts the worker
(the walk owns it: ``tests.model.walk_worker``). After every step the inspection
invariants hold (each party's messages included), and the round's progress (query and
``GET``) equals the model's: ``rectifying`` after the last visit while hazards are open,
counting their closings (``campaign-v2``). At the end a scripted resolution visits or
cancels everything and closes every hazard, and the round completes once, with every
hazard counted. ``make soak`` gives it a time budget and a random seed.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from constants import campaign_workflow_id, inspection_workflow_id
from schemas.inspections.campaign import CampaignProgress
from schemas.platform.common import Actor
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.inspection_support import add_enterprise, add_inspectors, terminate_open
from tests.model.campaign_model import FIELDS, CampModel, decide_start, request
from tests.model.case_checks import COMPLETED, RUNNING, describe_workflow
from tests.model.doors import Doors
from tests.model.inspection_checks import check, history, resolve, settle
from tests.model.inspection_world import SUPERVISOR, World, query
from tests.model.walk_worker import WalkWorker
from tests.model.walker import Failure, Step, draw, soak
from tests.test_model_inspection import run_step

# no ``worker`` fixture: the walk owns its worker, to restart it (``worker`` steps)
WEIGHTS = {
    "through": 2, "visit": 3, "results": 5, "finish": 2, "cancel": 1, "repeat": 1, "reuse": 1,
    "proof": 2, "reinspect": 2, "enforce": 1, "hcancel": 1, "time": 4, "restart": 1, "read": 1,
    "worker": 1,
}  # fmt: skip
GRID, OTHER_GRID = "G062", "G085"
# make test's fixed-seed walk (see tests.test_model_inspection.STEPS)
STEPS = int(os.environ.get("GRIDPLUS_WALK_STEPS", "10"))
READERS = [SUPERVISOR, Actor(role="department", id="fire"), Actor(role="inspector", id="IT-X"),
           Actor(role="enterprise", id="ET-X"), Actor(role="steward", id="S-X")]  # fmt: skip


class Round:
    def __init__(self, world: World, model: CampModel, body: dict[str, Any]) -> None:
        self.world, self.model, self.body = world, model, body
        self.finished: CampaignProgress | None = None  # its last query once it completed
        self.handle = world.env.client.get_workflow_handle(
            campaign_workflow_id(model.cid), result_type=CampaignProgress
        )

    async def adopt(self) -> None:
        """Follow the inspections the round has started (their ids are the round's)."""
        known = {i.model.enterprise for i in self.world.inspections}
        for enterprise in self.world.enterprises:
            iid = f"JI-{enterprise}-{self.model.cid}"
            if enterprise not in known:
                try:
                    await describe_workflow(self.world.env.client, inspection_workflow_id(iid))
                except Exception:  # not started yet
                    continue
                self.world.adopt(iid, enterprise)

    async def start(self, actor: Actor, body: dict[str, Any]) -> Any:
        response = await self.world.door.api.post(
            "/campaigns", json=body, headers=self.world.door.headers(actor)
        )
        return self.world.door.answer(response)

    async def restart(self, v: int) -> None:
        actor = [SUPERVISOR, Actor(role="supervisor", id="center-li"), READERS[1 + v % 4]][v % 3]
        body = dict(self.body) if v % 2 else {**self.body, "name": "another round"}
        verdict = decide_start(self.model, actor.role, actor.id, body)
        answer = await self.start(actor, body)
        created = answer.body.get("created") if answer.ok else None
        if verdict.ok != answer.ok or verdict.code != answer.code or created:
            raise Failure(f"answer:restart:{verdict.code or 'ok'}", f"{actor}: {answer.body}")

    async def read(self, v: int) -> None:
        actor = READERS[v % len(READERS)]
        response = await self.world.door.api.get(
            f"/campaigns/{self.model.cid}", headers=self.world.door.headers(actor)
        )
        allowed = actor.role in ("supervisor", "department")
        if response.is_success != allowed:
            raise Failure("answer:read", f"{actor}: {response.status_code} {response.text}")

    async def check(self, patience: int = 100) -> None:
        if self.finished is not None:  # no more queries (they replay); GET still answers
            await self.check_get(self.finished)
            return
        client = self.world.env.client
        for _ in range(patience):  # an inspection's signal may still be on its way
            status, _, attributes = await describe_workflow(client, self.handle.id)
            timers = await history(client, self.handle.id)
            progress = await query(self.handle, "progress", CampaignProgress)
            now = await self.world.env.get_current_time()
            want = self.model.expected([i.model for i in self.world.inspections], now)
            got = progress.model_dump(include=set(FIELDS))
            if got == want:
                break
            await asyncio.sleep(0.05)
        else:
            raise Failure("campaign_progress", f"{self.model.cid}: {got} vs model {want}")
        if len(self.world.inspections) != progress.started:
            raise Failure("campaign_started", f"{progress.started} vs {self.world.inspections}")
        await self.check_get(progress)
        if status == COMPLETED:
            if progress.status != "completed":
                raise Failure("ended_badly", f"{self.model.cid}: completed as {progress.status}")
            self.finished = progress
            return
        if status != RUNNING or progress.status == "completed":
            raise Failure("ended_badly", f"{self.model.cid}: {status} {progress.status}")
        if attributes.get("GpStatus") != progress.status:
            raise Failure("search_attributes", f"{attributes} vs {progress.status}")
        if progress.status == "rectifying":  # each open hazard has its own timer and party
            open_hazards = [h for h in self.world.hazards if h.model.is_open]
            if not open_hazards or progress.hazards_open != len(open_hazards):
                raise Failure("waits_on_nothing", f"{self.model.cid}: {progress}")
            if "GpDeadline" in attributes:
                raise Failure("search_attributes", f"rectifying with a deadline: {attributes}")
            return
        flying = [i for i in self.world.inspections if i.model.status in
                  ("preparing", "unassigned", "scheduled", "visiting")]  # fmt: skip
        if not flying and (progress.overdue or timers < 1):
            raise Failure("waits_on_nothing", f"{self.model.cid}: {progress}")

    async def check_get(self, progress: CampaignProgress, patience: int = 200) -> None:
        """``GET`` equals the query (once completed, its last answer)."""
        headers = self.world.door.headers(SUPERVISOR)
        for _ in range(patience):
            response = await self.world.door.api.get(
                f"/campaigns/{self.model.cid}", headers=headers
            )
            if response.is_success and CampaignProgress.model_validate(response.json()) == progress:
                return
            await asyncio.sleep(0.05)
        raise Failure("get_vs_query", f"{self.model.cid}: {response.text} vs {progress}")


async def open_round(
    env: WorkflowEnvironment, door: Doors, sessions: SessionFactory, grids: GridIndex
) -> Round:
    outsider = await add_inspectors(sessions, OTHER_GRID, 1)
    mine = await add_inspectors(sessions, GRID, 2)
    risks = ["low", "high", "medium", "high"]
    enterprises = [await add_enterprise(sessions, grids, GRID, risk_level=r) for r in risks]
    inspectors = {**{i: OTHER_GRID for i in outsider}, **{i: GRID for i in mine}}
    world = World(env, door, GRID, enterprises, inspectors)
    cid = "MW-" + uuid.uuid4().hex[:8].upper()
    body = {"campaign_id": cid, "name": "model walk round",
            "filter": {"enterprise_ids": enterprises}, "target_window": "P10D",
            "max_in_flight": 2}  # fmt: skip
    model = CampModel(
        cid, len(enterprises), 2, await env.get_current_time() + timedelta(days=10),
        request(SUPERVISOR.role, SUPERVISOR.id, body),
    )  # fmt: skip
    round_ = Round(world, model, body)
    answer = await round_.start(SUPERVISOR, body)
    if not answer.ok or not answer.body["created"]:
        raise Failure("answer:start", f"{answer} {answer.body}")
    return round_


async def settled(round_: Round, sessions: SessionFactory) -> None:
    for _ in range(3):  # a round starts the next inspection when one reports
        await settle(round_.world)
        await round_.adopt()
    await settle(round_.world)
    await check(round_.world, sessions)
    await round_.check()


async def walk(
    env: WorkflowEnvironment, door: Doors, sessions: SessionFactory, grids: GridIndex,
    steps: Sequence[Step], runner: WalkWorker | None = None,
) -> tuple[Failure | None, Round | None]:  # fmt: skip
    round_: Round | None = None
    try:
        round_ = await open_round(env, door, sessions, grids)
        round_.world.runner = runner
        await settled(round_, sessions)
        for step in steps:
            if step.kind == "restart":
                await round_.restart(step.variant)
            elif step.kind == "read":
                await round_.read(step.variant)
            else:
                await run_step(round_.world, step)
            await settled(round_, sessions)
        await round_.world.restart_worker()  # in every walk, as the inspection walk does
        await settled(round_, sessions)
        for _ in range(len(round_.world.enterprises) + 1):
            await resolve(round_.world, sessions)
            await settled(round_, sessions)
        result = await round_.handle.result()
        if (
            result.status != "completed"
            or result.visited + result.cancelled != result.planned
            or result.hazards_closed != result.hazards_found
            or result.hazards_found != len(round_.world.hazards)
        ):
            raise Failure("round_result", f"{result}")
    except Failure as failure:
        return failure, round_
    finally:
        if round_ is not None:
            w = round_.world
            ids = [i.handle.id for i in w.inspections] + [h.handle.id for h in w.hazards]
            await terminate_open(env.client, [*ids, round_.handle.id])
    return None, round_


async def test_campaign_walks_agree_with_the_model(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    grids: GridIndex,
    http: httpx.AsyncClient,
) -> None:
    async with WalkWorker(env.client, sessions, http, settings) as runner:
        await campaign_walks(api, env, settings, sessions, grids, runner)


async def campaign_walks(
    api: httpx.AsyncClient, env: WorkflowEnvironment, settings: Settings,
    sessions: SessionFactory, grids: GridIndex, runner: WalkWorker,
) -> None:  # fmt: skip
    door = Doors.of(api, settings)
    seed, rounds = await soak(
        "campaign",
        5,
        lambda rng: draw(rng, WEIGHTS, 4, STEPS),
        lambda steps: walk(env, door, sessions, grids, steps, runner),
    )
    walks = actions = inspections = hazards = 0
    for round_ in rounds:
        assert round_ is not None
        walks += 1
        actions += round_.world.steps
        inspections += len(round_.world.inspections)
        hazards += len(round_.world.hazards)
    print(
        f"campaign walk: seed {seed}: {walks} rounds, {actions} actions, {inspections} "
        f"inspections, {hazards} hazards, {runner.restarts} worker restarts, "
        "no invariant violated",
        flush=True,
    )
    assert inspections == 4 * walks  # every planned enterprise was inspected (or cancelled)
