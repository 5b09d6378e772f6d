"""``JointInspectionWorkflow`` (and the hazards it hands on) against its model: seeded
random walks (see ``tests.model.walker``) on the time-skipping server with the production
worker.

A walk registers inspectors (two in the grid, one in another grid), opens inspections of
three enterprises through the API, then interleaves: openings by regulators and others
with new, repeated and reused keys; check-ins, results (passes, hazards, critical ones,
malformed forms) and finishes by the booked inspector, another, an outsider, an
enterprise, a department, the center; cancellations; repeated and reused idempotency
keys; the enterprise's proof, re-inspection, enforcement and cancellation of hazards; and
time jumps across every deadline (reminder, visit deadline -> another inspector,
rectification terms); and worker restarts (the walk owns its worker:
``tests.model.walk_worker``). After every step ``tests.model.inspection_checks.check``
holds, each party's messages included; at the end a scripted resolution ends everything,
each exactly once, with every message the model expects and no other. ``make soak`` gives
it a time budget and a random seed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta

import httpx
from temporalio.testing import WorkflowEnvironment

from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.inspection_support import add_enterprise, add_inspectors, terminate_open
from tests.model.doors import Doors
from tests.model.inspection_checks import check, hazard_view, insp_view, resolve, settle
from tests.model.inspection_hazards import act_hazard
from tests.model.inspection_world import World
from tests.model.walk_worker import WalkWorker, sleep
from tests.model.walker import Failure, Step, draw, soak

# no ``worker`` fixture: the walk owns its worker, to restart it (``worker`` steps)
WEIGHTS = {
    "open": 1, "through": 3, "visit": 3, "results": 4, "finish": 2, "cancel": 1, "repeat": 2,
    "reuse": 1,
    "proof": 3, "reinspect": 3, "enforce": 2, "hcancel": 1, "hrepeat": 1, "time": 4, "worker": 1,
}  # fmt: skip
HAZARD_STEPS = ("proof", "reinspect", "enforce", "hcancel", "hrepeat")
GRID, OTHER_GRID = "G058", "G084"
# make test's fixed-seed walk; the walk's uncached worker (restartable on the test server)
# replays a whole inspection per query and per timer, so a step costs more than it did
STEPS = int(os.environ.get("GRIDPLUS_WALK_STEPS", "16"))


async def make_world(
    env: WorkflowEnvironment, door: Doors, sessions: SessionFactory, grids: GridIndex
) -> World:
    outsider = await add_inspectors(sessions, OTHER_GRID, 1)
    mine = await add_inspectors(sessions, GRID, 2)  # every other inspector goes off duty
    enterprises = [
        await add_enterprise(sessions, grids, GRID),
        await add_enterprise(sessions, grids, GRID, industry="machinery",
                             hazardous_chemicals=False, risk_level="low"),
        await add_enterprise(sessions, grids, GRID, risk_level="medium"),
    ]  # fmt: skip
    inspectors = {**{i: OTHER_GRID for i in outsider}, **{i: GRID for i in mine}}
    world = World(env, door, GRID, enterprises, inspectors)
    for v in (0, 16, 8):  # the center opens one inspection of each (no key reused)
        await world.open(v)
    return world


async def time_jump(world: World, step: Step) -> None:
    """Across a deadline (an inspection's, a hazard's, a reminder) or some days."""
    now = await world.env.get_current_time()
    v = step.variant
    due = []
    for i in world.inspections:
        view = await insp_view(i)
        if view.deadline:
            due.append(view.deadline)
        if view.visit_at and view.status == "scheduled":
            due.append(view.visit_at - timedelta(days=1))  # the reminder
    for h in world.hazards:
        hv = await hazard_view(h)
        if hv.deadline:
            due.append(hv.deadline)
    future = sorted(d for d in due if d > now)
    jump = timedelta(hours=1 + v % 100) if v % 5 == 0 else timedelta(days=1 + v % 12)
    if future and v % 3:
        jump = future[(v // 3) % len(future)] - now + timedelta(seconds=1)
    await sleep(world.env, max(jump, timedelta(seconds=1)), timedelta(days=1))


async def run_step(world: World, step: Step) -> None:
    if step.kind == "time":
        await time_jump(world, step)
    elif step.kind == "worker":
        await world.restart_worker()
    elif step.kind == "open":
        if len(world.inspections) < 6:
            await world.open(step.variant)
    elif step.kind in HAZARD_STEPS:
        if world.hazards:
            await act_hazard(world, world.hazards[step.case % len(world.hazards)], step)
    else:
        await world.act(world.inspections[step.case % len(world.inspections)], step)


async def walk(
    env: WorkflowEnvironment, door: Doors, sessions: SessionFactory, grids: GridIndex,
    steps: Sequence[Step], runner: WalkWorker | None = None,
) -> tuple[Failure | None, World | None]:  # fmt: skip
    world: World | None = None
    try:
        world = await make_world(env, door, sessions, grids)
        world.runner = runner
        await settle(world)
        await check(world, sessions)
        for step in steps:
            await run_step(world, step)
            await settle(world)
            await check(world, sessions)
        # a restart before the end in every walk (the steps may draw none): the resolution
        # runs on a worker that knows the walk's workflows only from their histories
        await run_step(world, Step("worker"))
        await settle(world)
        await check(world, sessions)
        await resolve(world, sessions)
    except Failure as failure:
        return failure, world
    finally:
        if world is not None:
            ids = [i.handle.id for i in world.inspections] + [h.handle.id for h in world.hazards]
            await terminate_open(env.client, ids)
    return None, world


async def test_inspection_walks_agree_with_the_model(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    grids: GridIndex,
    http: httpx.AsyncClient,
) -> None:
    async with WalkWorker(env.client, sessions, http, settings) as runner:
        await inspection_walks(api, env, settings, sessions, grids, runner)


async def inspection_walks(
    api: httpx.AsyncClient, env: WorkflowEnvironment, settings: Settings,
    sessions: SessionFactory, grids: GridIndex, runner: WalkWorker,
) -> None:  # fmt: skip
    door = Doors.of(api, settings)
    seed, worlds = await soak(
        "inspection",
        11,
        lambda rng: draw(rng, WEIGHTS, 6, STEPS),
        lambda steps: walk(env, door, sessions, grids, steps, runner),
    )
    walks = steps_sent = inspections = hazards = 0
    for world in worlds:
        assert world is not None
        walks += 1
        steps_sent += world.steps
        inspections += len(world.inspections)
        hazards += len(world.hazards)
    print(
        f"inspection walk: seed {seed}: {walks} walks, {steps_sent} actions, "
        f"{inspections} inspections, {hazards} hazards, {runner.restarts} worker restarts, "
        "no invariant violated",
        flush=True,
    )
    assert inspections >= 3 * walks  # the walk did drive what it opened
