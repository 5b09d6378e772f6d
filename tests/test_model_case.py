"""The case workflow against its model: seeded random walks on the real servers.

``make test`` runs a fixed seed and a few short walks (see ``WALKS`` / ``STEPS``);
``make soak`` runs walks with random seeds until ``GRIDPLUS_SOAK_SECONDS`` have passed,
printing the seed first so that a failure can be replayed with ``GRIDPLUS_SOAK_SEED``.
A failure is shrunk (``tests.model.walker.shrink``) and printed as its minimal sequence.
Why a walker and not Hypothesis' state machine: see ``tests.model.walker``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.model.case_steps import SEEN, WEIGHTS
from tests.model.case_walk import walk
from tests.model.case_world import OPENINGS, CaseWorld
from tests.model.walker import Failure, Step, draw, shrink, soak_plan

FIXED_SEED = 20261130
WALKS = int(os.environ.get("GRIDPLUS_MODEL_WALKS", "1"))
STEPS = int(os.environ.get("GRIDPLUS_MODEL_STEPS", "40"))
# replays of a failing walk while shrinking it, and their wall-clock budget
SHRINK_REPLAYS = int(os.environ.get("GRIDPLUS_SHRINK_REPLAYS", "40"))
SHRINK_SECONDS = float(os.environ.get("GRIDPLUS_SHRINK_SECONDS", "600"))


async def test_case_walks_agree_with_the_model(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    settings: Settings,
    http: httpx.AsyncClient,
) -> None:
    seed, seconds = soak_plan(FIXED_SEED)
    print(f"\nmodel walk: GRIDPLUS_SOAK_SEED={seed} seconds={seconds or 'none'}", flush=True)
    rng = random.Random(seed)
    started = time.monotonic()
    walks = steps_done = cases = 0
    async with CaseWorld(env, sessions, grids, settings, http) as world:
        while (walks < WALKS) if not seconds else (time.monotonic() - started < seconds):
            walk_seed = rng.randrange(2**31)
            steps = draw(random.Random(walk_seed), WEIGHTS, len(OPENINGS), STEPS)
            failure = await walk(world, steps, walk_seed)
            if failure is not None:
                print(
                    f"model walk: seed {seed}: walk {walks} (walk seed {walk_seed}) violated "
                    f"{failure.signature}; shrinking",
                    flush=True,
                )
                log = "\n".join(world.log[-40:])

                async def again(candidate: Sequence[Step], seed: int = walk_seed) -> Failure | None:
                    return await walk(world, candidate, seed)

                shrunk = await shrink(steps, failure, again, SHRINK_REPLAYS, SHRINK_SECONDS)
                await walk(world, shrunk, walk_seed)
                pytest.fail(
                    f"walk {walks} (walk seed {walk_seed}, run seed {seed}) failed: {failure}\n"
                    f"last steps:\n{log}\n"
                    f"shrunk to {len(shrunk)} steps: {[str(s) for s in shrunk]}\n"
                    f"replayed:\n" + "\n".join(world.log)
                )
            walks += 1
            steps_done += len(steps)
            cases += len(world.cases)
    print("model walk reached: " + ", ".join(f"{k}={n}" for k, n in sorted(SEEN.items())))
    print(
        f"model walk: seed {seed}: {walks} walks, {steps_done} steps, {cases} cases, "
        f"{time.monotonic() - started:.0f} s, 0 invariant violations",
        flush=True,
    )
    assert walks >= 1 and steps_done >= walks * STEPS
