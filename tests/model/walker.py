"""A seeded random walker over symbolic steps, with delta-debugging to shrink a failure.

Why not Hypothesis' ``RuleBasedStateMachine``: the suite's fixtures (the time-skipping
server, the worker, the database engine, the in-process API) live on pytest-asyncio's
session event loop, and a state machine is synchronous; running each example on a loop of
its own would mean a new Temporal client, engine and worker per example, and an example
here is a run of minutes of simulated time over a dozen workflows. So the walker is an
async test itself: it draws symbolic steps from a seeded ``random.Random`` (a step names a
case by index and a variant, and is resolved against the model's state when it runs, so a
recorded list can be replayed on fresh cases), and when an invariant fails it shrinks the
recorded list with ddmin (Zeller's delta debugging): chunks are removed while the same
kind of failure still happens, down to a 1-minimal sequence that is printed as a
regression test can be written from it.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pytest


@dataclass(frozen=True)
class Step:
    """One symbolic step: ``kind`` (what), ``case`` (which case, by index), ``variant``."""

    kind: str
    case: int = 0
    variant: int = 0

    def __str__(self) -> str:
        return f"{self.kind}(case={self.case}, v={self.variant})"


class Failure(AssertionError):
    """An invariant did not hold; ``signature`` says which, to compare shrunk replays."""

    def __init__(self, signature: str, detail: str) -> None:
        super().__init__(f"[{signature}] {detail}")
        self.signature = signature
        self.detail = detail


def draw(rng: random.Random, weights: dict[str, int], cases: int, count: int) -> list[Step]:
    """``count`` steps with kinds by weight, a case index and a variant each."""
    kinds = list(weights)
    chosen = rng.choices(kinds, weights=[weights[k] for k in kinds], k=count)
    return [Step(kind, rng.randrange(cases), rng.randrange(1_000_000)) for kind in chosen]


Run = Callable[[Sequence[Step]], Awaitable[Failure | None]]


async def shrink(
    steps: Sequence[Step],
    failure: Failure,
    run: Run,
    budget: int = 40,
    seconds: float | None = None,
) -> list[Step]:
    """ddmin: the smallest sublist of ``steps`` failing alike, within ``budget`` replays
    and, when given, ``seconds`` of wall clock (the best sublist so far when either ends:
    a shrink that runs for an hour helps nobody, a shorter sequence already does)."""
    current = list(steps)
    chunks = 2
    replays = 0
    give_up = None if seconds is None else time.monotonic() + seconds

    def spent() -> bool:
        return replays >= budget or (give_up is not None and time.monotonic() >= give_up)

    while len(current) >= 2 and not spent():
        size = max(1, len(current) // chunks)
        reduced = False
        for start in range(0, len(current), size):
            candidate = current[:start] + current[start + size :]
            replays += 1
            again = await run(candidate)
            if again is not None and again.signature == failure.signature:
                current, chunks, reduced = candidate, max(chunks - 1, 2), True
                break
            if spent():
                break
        if not reduced:
            if size == 1:
                break
            chunks = min(len(current), chunks * 2)
    return current


def soak_plan(fixed_seed: int) -> tuple[int, float]:
    """(seed, seconds): ``make soak``'s (``GRIDPLUS_SOAK_SECONDS``, a random seed unless
    ``GRIDPLUS_SOAK_SEED`` replays one), or ``fixed_seed`` and no time budget for ``make test``.
    """
    seconds = float(os.environ.get("GRIDPLUS_SOAK_SECONDS", "0") or 0)
    raw = os.environ.get("GRIDPLUS_SOAK_SEED")
    if raw:
        return int(raw), seconds
    return (random.SystemRandom().randrange(2**31) if seconds else fixed_seed), seconds


T = TypeVar("T")


async def soak(
    name: str,
    fixed_seed: int,
    draw_steps: Callable[[random.Random], list[Step]],
    walk: Callable[[Sequence[Step]], Awaitable[tuple[Failure | None, T]]],
    walks_without_budget: int = 1,
) -> tuple[int, list[T]]:
    """The walks of one model test: steps drawn from ``soak_plan``'s seed and walked until
    its time budget ends (``walks_without_budget`` walks when there is none, as in ``make
    test``); a failure is shrunk (20 replays) and fails the test with the seed and the shrunk
    steps. The seed and what each walk returned (the caller counts what it drove)."""
    seed, seconds = soak_plan(fixed_seed)
    print(f"\n{name} walk: GRIDPLUS_SOAK_SEED={seed}", flush=True)
    rng, started, results = random.Random(seed), time.monotonic(), list[T]()
    while (
        len(results) < walks_without_budget if not seconds else time.monotonic() - started < seconds
    ):
        steps = draw_steps(random.Random(rng.randrange(2**31)))
        failure, result = await walk(steps)
        if failure is not None:

            async def again(candidate: Sequence[Step]) -> Failure | None:
                return (await walk(candidate))[0]

            shrunk = await shrink(steps, failure, again, budget=20)
            pytest.fail(f"seed {seed}: {failure}\nshrunk: {[str(s) for s in shrunk]}")
        results.append(result)
    return seed, results
