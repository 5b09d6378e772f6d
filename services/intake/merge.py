"""Merge-or-start for machine reports: one case per burst, and Temporal decides every race.

A parked car seen by a camera gives a detection every second; a flapping smoke detector
alarms, recovers and alarms again. Each stream must make ONE case while that case is open,
and a new case once it has ended, with any number of API replicas taking posts at once.

**Merge key**: what counts as "the same thing": camera + detection type + place cell (a
~50 m square on a lattice centred on the camera; + the plate where the data says two
vehicles are two violations, e.g. red light), or sensor + case type. One ``intake_merge`` row
each.

**Case id = f(merge key, generation)**, deterministic. Every report of a key computes the
same id and sends ``add_evidence`` to it with update-with-start
(``WorkflowIDConflictPolicy.USE_EXISTING``): the workflow id is the lock. However many
replicas race, exactly one workflow starts and every other report lands in it as evidence,
atomically (start and update are one call). The report that opened the generation (the
registry's ``opener``) starts the case instead, with its evidence as the filing's
(``open_or_attach``), and is answered once the start is recorded; should another report's
update-with-start have won the id, it attaches as they do. No database lock: the registry
is only ever written by insert-if-absent and compare-and-set, so no read-modify-write can
race.

**Generation** moves forward only by compare-and-set (``UPDATE .. WHERE generation = g``):
(a) when the case has ended (update-with-start is refused: ``REJECT_DUPLICATE`` on a closed
workflow, or the validator's ``case_ended``); (b) for cameras, when the burst went quiet (a
report more than the merge window after the key's last one); (c) for sensors, when an alarm
comes more than the window after a recovery. All racers that saw generation g compute g+1,
so even the losers of the compare-and-set converge on the same case id.

Why not fixed windows (the id from the window index of the detection): a burst crossing
08:09:58 -> 08:10:03 would split; here the window is a *gap* between reports, so a burst is
one case however long it lasts while the case is open. Why not the first detection's window
index kept in the registry: once that case closes, a new burst in the same window would map
to the closed id; a generation never repeats, and it outlives Temporal's retention of closed
workflow ids. Why not a long-lived merge workflow per key: a second workflow round trip per
detection and thousands of eternal workflows, to decide what the workflow id decides anyway.

Temporal allows 2,000 updates per workflow run: after ``MAX_ATTACHED_PER_CASE`` reports a
case takes no more evidence (the reports are still recorded, with the case id). The call
itself is ``services.cases.attach.attach``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, update
from sqlmodel import col
from temporalio.client import Client

from schemas.cases.workflow import AddEvidence, OpenCaseInput
from schemas.intake.tables import IntakeMerge
from schemas.platform.common import GeoPoint
from services.cases.attach import CaseEnded, attach, open_or_attach
from services.cases.operations import is_running
from services.platform.db import SessionFactory, upsert_insert, utc

# The default of GRIDPLUS_INTAKE_MERGE_WINDOW (``settings.intake_merge_window``); the API
# passes the setting to ``MergeRegistry``. The cell size changes merge keys and the cap is
# bound by Temporal's updates per run, so they stay constants.
MERGE_WINDOW = timedelta(minutes=10)
MERGE_CELL_METRES = 50.0
MAX_ATTACHED_PER_CASE = 1000
# ``last_at`` is written at most this often: a burst costs a few writes, not one per report
# (the merge window is then effectively between WINDOW - STEP and WINDOW).
LAST_SEEN_STEP = timedelta(seconds=30)
MAX_ROTATIONS = 4
METRES_PER_DEGREE = 111_320.0

MergeRule = Literal["burst", "alarm"]


class MergeStuck(Exception):
    """Generations kept ending under us (should not happen): the caller answers 503."""


@dataclass(frozen=True)
class MergeKey:
    """What makes two reports "the same thing"; ``rule`` says when a new case starts."""

    label: str
    rule: MergeRule

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.label.encode("utf-8")).hexdigest()[:40]


def place_cell(
    at: GeoPoint, origin: GeoPoint, metres: float = MERGE_CELL_METRES
) -> tuple[int, int]:
    """The ~``metres`` square ``at`` falls in, on a lattice centred on ``origin``.

    Centred on the camera's mount, so the scene right in front of it (a parking space, a
    stall) does not sit on a cell edge where a few metres of jitter would split a burst.
    """
    lat_step = metres / METRES_PER_DEGREE
    lon_step = metres / (METRES_PER_DEGREE * max(math.cos(math.radians(origin.lat)), 1e-6))
    row = math.floor((at.lat - origin.lat) / lat_step + 0.5)
    return row, math.floor((at.lon - origin.lon) / lon_step + 0.5)


def camera_key(
    device_id: str, detection_type: str, at: GeoPoint, mount: GeoPoint, plate: str | None
) -> MergeKey:
    row, column = place_cell(at, mount)
    suffix = f":{plate}" if plate else ""
    return MergeKey(f"camera:{device_id}:{detection_type}:{row}:{column}{suffix}", "burst")


def sensor_key(device_id: str, case_type: str) -> MergeKey:
    return MergeKey(f"sensor:{device_id}:{case_type}", "alarm")


def case_id_for(key: MergeKey, generation: int) -> str:
    """The case a key's generation merges into: same format as
    ``services.cases.filing.new_case_id``."""
    digest = hashlib.sha256(f"{key.digest}:{generation}".encode()).hexdigest()
    return "GP-" + digest[:16].upper()


@dataclass(frozen=True)
class Slot:
    """A key's registry row as read."""

    generation: int
    opener: str
    last_at: datetime
    recovered_at: datetime | None
    full: bool


_merges: Any = IntakeMerge.__table__  # type: ignore[attr-defined]
_SEEN_AT: Any = bindparam("at")
SEEN = (
    update(_merges)
    .where(_merges.c.merge_key == bindparam("k"))
    .where(_merges.c.generation == bindparam("g"))
    .where(_merges.c.last_at < _SEEN_AT)
    .values(last_at=_SEEN_AT)
)


class MergeRegistry:
    """The ``intake_merge`` rows: read, insert-if-absent, and compare-and-set only."""

    def __init__(self, sessions: SessionFactory, window: timedelta = MERGE_WINDOW) -> None:
        self._sessions = sessions
        self.window = window

    async def get(self, key: MergeKey) -> Slot | None:
        async with self._sessions() as session:
            row = await session.get(IntakeMerge, key.digest)
        if row is None:
            return None
        last_at = utc(row.last_at)
        assert last_at is not None
        return Slot(row.generation, row.opener, last_at, utc(row.recovered_at), row.full)

    async def current(self, key: MergeKey, at: datetime, opener: str) -> Slot:
        """The generation a report at ``at`` belongs to, opening or advancing it if needed."""
        slot = await self.get(key)
        if slot is None:
            async with self._sessions() as session, session.begin():
                insert = upsert_insert(session.get_bind().dialect.name)
                values = {"merge_key": key.digest, "label": key.label[:200], "generation": 1}
                values |= {"opener": opener, "last_at": at, "recovered_at": None, "full": False}
                await session.execute(
                    insert(IntakeMerge)
                    .values(values)
                    .on_conflict_do_nothing(index_elements=["merge_key"])
                )
            slot = await self.get(key)
            assert slot is not None
        elif self.stale(key.rule, slot, at):
            slot = await self.advance(key, slot.generation, at, opener)
        return slot

    def stale(self, rule: MergeRule, slot: Slot, at: datetime) -> bool:
        if rule == "burst":
            return at - slot.last_at > self.window
        return slot.recovered_at is not None and at - slot.recovered_at > self.window

    async def advance(self, key: MergeKey, generation: int, at: datetime, opener: str) -> Slot:
        """Next generation if nobody moved it yet; either way, the generation now current."""
        await self._set(
            key,
            generation,
            generation=generation + 1,
            opener=opener,
            last_at=at,
            recovered_at=None,
            full=False,
        )
        slot = await self.get(key)
        assert slot is not None
        return slot

    async def attached(self, key: MergeKey, slot: Slot, at: datetime, seq: int) -> None:
        """After a report joined the case: keep ``last_at`` fresh, note a full case."""
        changes: dict[str, Any] = {}
        if seq >= MAX_ATTACHED_PER_CASE:
            changes["full"] = True
        if key.rule == "alarm" and slot.recovered_at is not None:
            changes["recovered_at"] = None  # alarming again: the recovery no longer holds
        if changes:
            await self._set(key, slot.generation, **changes)
        if at - slot.last_at >= LAST_SEEN_STEP:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(IntakeMerge)
                    .where(col(IntakeMerge.merge_key) == key.digest)
                    .where(col(IntakeMerge.generation) == slot.generation)
                    .where(col(IntakeMerge.last_at) < at)
                    .values(last_at=at)
                )

    async def seen(self, bumps: list[tuple[str, int, datetime]]) -> None:
        """``last_at`` moved on for many scenes in one statement: ``(digest, generation,
        at)`` each, a row changed only if still that generation and not seen later."""
        if bumps:
            params = [{"k": digest, "g": gen, "at": at} for digest, gen, at in bumps]
            async with self._sessions() as session, session.begin():
                await session.execute(SEEN, params)

    async def recovered(self, key: MergeKey, generation: int, at: datetime) -> None:
        await self._set(key, generation, recovered_at=at)

    async def _set(self, key: MergeKey, current: int, **values: Any) -> None:
        """Compare-and-set: change the row only if its generation is still ``current``."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(IntakeMerge)
                .where(col(IntakeMerge.merge_key) == key.digest)
                .where(col(IntakeMerge.generation) == current)
                .values(**values)
            )


@dataclass(frozen=True)
class PendingReport:
    """A report ready to merge: its update id, time, evidence and how to file a new case."""

    update_id: str
    at: datetime
    action: AddEvidence
    start_input: Callable[[str], OpenCaseInput]


@dataclass(frozen=True)
class MergeResult:
    case_id: str
    opened: bool  # this report opened the generation (the others merged into it)
    attached: bool  # False once the case holds MAX_ATTACHED_PER_CASE reports


async def merge_or_start(
    client: Client, registry: MergeRegistry, key: MergeKey, report: PendingReport, queue: str
) -> MergeResult:
    """Attach the report to its key's open case, or start that case; see the module doc."""
    slot = await registry.current(key, report.at, report.update_id)
    for _ in range(MAX_ROTATIONS):
        case_id = case_id_for(key, slot.generation)
        opened = slot.opener == report.update_id
        if slot.full:
            if await is_running(client, case_id):
                return MergeResult(case_id, opened, attached=False)
        else:
            inp = report.start_input(case_id)
            try:
                if opened:  # the scene's first report: its evidence is the filing's
                    seq = await open_or_attach(client, inp, report.action, queue)
                else:
                    seq = (await attach(client, inp, report.action, queue)).seq
            except CaseEnded:
                pass
            else:
                if seq:
                    await registry.attached(key, slot, report.at, seq)
                return MergeResult(case_id, opened, attached=True)
        slot = await registry.advance(key, slot.generation, report.at, report.update_id)
    raise MergeStuck(key.label)
