"""A probe workflow for ``workflows.kit``: every tool once, with a recording activity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow

from workflows.kit.lanes import Lanes
from workflows.kit.ledger import ActionRejected, Ledger
from workflows.kit.projection import Projector
from workflows.kit.updates import human_update
from workflows.kit.waiting import Waiter, fixed

with workflow.unsafe.imports_passed_through():
    from schemas.cases.workflow import ActionOutcome, UrgeCase
    from schemas.platform.updates import Update

RECORD = "kit_probe_record"
SEEN: list[tuple[str, str]] = []  # what the activity was called with, in order


class Note(BaseModel):
    lane: str
    text: str


class ProbeResult(BaseModel):
    on_time: bool
    reminded: bool
    urged: int


@activity.defn(name=RECORD)
async def record(note: Note) -> None:
    SEEN.append((note.lane, note.text))


@workflow.defn(name="KitProbeWorkflow", sandboxed=False)
class KitProbeWorkflow:
    """Queues notes on two lanes, projects a burst, waits against a deadline it misses,
    and takes ``urge`` updates from supervisors only."""

    def __init__(self) -> None:
        self.keys: Ledger[ActionOutcome] = Ledger()
        self.lanes = Lanes()
        self.waiter = Waiter()
        self.version = 0
        self.projector = Projector(
            RECORD, self._snapshot, local_retry_threshold=timedelta(seconds=4)
        )
        self.urged = 0
        self.reminded = False

    def _snapshot(self) -> Note:
        return Note(lane="projection", text=str(self.version))

    def guard(self, action: Any, rule: Callable[[], object]) -> None:
        self.keys.guard(action, rule)

    def act(self, action: Any, apply: Callable[[Any], str]) -> ActionOutcome:
        def answer(a: Any) -> ActionOutcome:
            return ActionOutcome(case_id="probe", status="filed", seq=self.urged, message=apply(a))

        return self.keys.act(action, answer)

    @staticmethod
    def _supervisor_only(wf: Any, action: UrgeCase) -> None:
        if action.actor.role != "supervisor":
            raise ActionRejected("only supervisors urge", "forbidden_role")

    @human_update(Update.URGE, rule=_supervisor_only, result=ActionOutcome)
    def urge(self, action: UrgeCase) -> str:
        self.urged += 1
        return f"urged {self.urged}"

    @workflow.run
    async def run(self) -> ProbeResult:
        self.projector.start(self.lanes)
        for n in range(3):
            self.lanes.put("a", RECORD, Note(lane="a", text=str(n)))
            self.lanes.put("b", RECORD, Note(lane="b", text=str(n)))
        for _ in range(5):
            self.version += 1
            self.projector.touch()
        now = workflow.now()

        def remind() -> None:
            self.reminded = True

        on_time = await self.waiter.wait_until(
            lambda: self.urged >= 2,
            fixed(now + timedelta(hours=1)),
            [(now + timedelta(minutes=30), remind)],
        )
        await self.lanes.drain()
        return ProbeResult(on_time=on_time, reminded=self.reminded, urged=self.urged)
