"""``RectificationWorkflow`` against its model: seeded random walks (see ``tests.model.walker``).

Hazards are started as an inspection starts them (the workflow with its input; the
inspection itself is walked elsewhere); everything after goes through the API: the
enterprise's proof (itself, or another enterprise), re-inspection by the responsible
department or another, enforcement, cancellation by a supervisor or not, repeated keys,
time jumps across every deadline, and worker restarts (the walk owns its worker:
``tests.model.walk_worker``). After every step, and at the end, each party has received
exactly the messages the model expects. ``make soak`` gives it a time budget too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from constants import rectification_workflow_id
from schemas.inspections.checklists import FormItem, default_checklists
from schemas.inspections.rectification import RectificationInput, RectificationView
from schemas.inspections.workflow import EnterpriseRef
from schemas.platform.common import Actor, GeoPoint
from services.platform.db import SessionFactory
from settings import Settings
from tests.model.case_checks import COMPLETED, RUNNING, describe_workflow, history_ok
from tests.model.case_model import ModelViolation
from tests.model.doors import Doors
from tests.model.inspection_checks import messages_agree
from tests.model.rectification_model import RectModel, decide
from tests.model.walk_worker import WalkWorker, pending_work, sleep
from tests.model.walker import Failure, Step, draw, soak
from tests.support import SUPERVISOR

# no ``worker`` fixture: the walk owns its worker, to restart it (``worker`` steps)
WEIGHTS = {"proof": 4, "reinspect": 4, "enforce": 3, "cancel": 1, "repeat": 2, "time": 4,
           "worker": 1}  # fmt: skip
SEVERITIES = ("critical", "major", "minor")
PHOTO = [{"kind": "photo", "url": "https://e.example/proof.jpg"}]


class Hazard:
    def __init__(self, handle: WorkflowHandle[Any, Any], model: RectModel) -> None:
        self.handle, self.model = handle, model
        self.last: tuple[str, Actor, dict[str, Any], str, Any] | None = None


async def view_of(h: Hazard) -> RectificationView:
    view: RectificationView = await h.handle.query("view", result_type=RectificationView)
    return view


async def open_hazards(env: WorkflowEnvironment, count: int) -> list[Hazard]:
    checklists = default_checklists()
    hazards = []
    for n in range(count):
        item = [i for i in checklists.items if any(a.severity for a in i.answers)][n * 7]
        answer = item.answers[n % len(item.answers)]
        enterprise = EnterpriseRef(
            id="ET-M" + uuid.uuid4().hex[:6].upper(), name="模型企业", grid_id="G001",
            location=GeoPoint(lat=30.745, lon=120.487), industry="chemical",
            risk_level="high", hazardous_chemicals=True,
        )  # fmt: skip
        rid = "INS-M" + uuid.uuid4().hex[:8].upper() + "-H01"
        inp = RectificationInput(
            rectification_id=rid, inspection_id=rid[:-4], enterprise=enterprise,
            item=FormItem(**item.model_dump(exclude={"applies"})), answer=answer.code,
            severity=answer.severity, found_at=await env.get_current_time(),
            found_by=SUPERVISOR, policy=checklists.rectification,
        )  # fmt: skip
        handle = await env.client.start_workflow(
            "RectificationWorkflow", inp, id=rectification_workflow_id(rid),
            task_queue="gridplus-test",
        )  # fmt: skip
        hazards.append(Hazard(handle, RectModel(rid, enterprise.id, item.department)))
    return hazards


async def act(door: Doors, h: Hazard, step: Step) -> None:
    m, v = h.model, step.variant
    others = [d for d in default_checklists().departments if d != m.department]
    dept = Actor(role="department", id=m.department if v % 3 else others[v % len(others)])
    rid = m.rid
    if step.kind == "repeat" and h.last is not None:
        path, actor, body, key, previous = h.last
        again = await door.post(path, actor, body, key)
        if previous.ok and (again.status, again.body) != (previous.status, previous.body):
            raise Failure("repeat_key", f"{rid}: {again} {again.body} vs {previous.body}")
        return
    call: tuple[str, Actor, str, dict[str, Any]]
    if step.kind in ("proof", "repeat"):
        who = Actor(role="enterprise", id=m.enterprise if v % 4 else "ET-OTHER")
        call = ("proof", who, f"/enterprises/{who.id}/rectifications/{rid}/proof",
                {"note": "已整改", "evidence": PHOTO})  # fmt: skip
    elif step.kind == "reinspect":
        call = ("reinspect", dept, f"/rectifications/{rid}/reinspection",
                {"passed": v % 2 == 0, "note": "复查"})  # fmt: skip
    elif step.kind == "enforce":
        order: dict[str, Any] = {"measure": "order", "note": "责令改正"}
        if v % 2:
            order["extra"] = 86400 * (1 + v % 7)
        call = ("enforcement", dept, f"/rectifications/{rid}/enforcement", order)
    else:
        who = SUPERVISOR if v % 3 else dept
        call = ("cancel", who, f"/rectifications/{rid}/cancel", {"reason": "recorded in error"})
    kind, actor, path, body = call
    verdict = decide(m, kind, actor.role, actor.id)
    key = f"mdl-{uuid.uuid4().hex}"
    answer = await door.post(path, actor, body, key)
    if verdict.ok != answer.ok or (not verdict.ok and verdict.code != answer.code):
        raise Failure(
            f"answer:{kind}:{verdict.code or 'ok'}",
            f"{rid} ({m.status}): model {verdict.code or 'ok'}, API {answer} {answer.body}",
        )
    h.last = (path, actor, body, key, answer)


async def check(
    env: WorkflowEnvironment, sessions: SessionFactory, hazards: list[Hazard],
    folded: dict[str, int],
) -> None:  # fmt: skip
    now = await env.get_current_time()
    for h in hazards:
        status, _, attributes = await describe_workflow(env.client, h.handle.id)
        await history_ok(env.client, h.handle.id)
        view = await view_of(h)
        try:
            for entry in view.timeline[folded.get(h.model.rid, 0) :]:
                h.model.apply(entry)
        except ModelViolation as violation:
            raise Failure(f"timeline:{violation.kind}", str(violation)) from violation
        folded[h.model.rid] = len(view.timeline)
        if status == RUNNING:
            if attributes.get("GpStatus") != view.status:
                raise Failure("search_attributes", f"{h.model.rid}: {attributes} vs {view.status}")
            if (view.deadline is not None) != h.model.has_deadline:
                raise Failure("deadline_presence", f"{h.model.rid}: {view.deadline} {view.status}")
            if view.deadline is not None and view.deadline <= now:
                raise Failure("stalled", f"{h.model.rid}: {view.status} due {view.deadline}")
            if view.deadline is None and not view.overdue:
                raise Failure("waits_on_nothing", f"{h.model.rid}: {view.waiting_for}")
        elif status != COMPLETED:
            raise Failure("ended_badly", f"{h.model.rid}: {status}")
        await messages_agree(sessions, h.model.rid, h.model.messages)


async def settle(env: WorkflowEnvironment, hazards: list[Hazard]) -> None:
    """Until the server holds no task for any hazard and two queries in a row agree
    (queried only then: the walk's uncached worker replays a hazard to answer one)."""
    previous: list[Any] = []
    for _ in range(400):
        if any([await pending_work(env.client, h.handle.id) for h in hazards]):
            await asyncio.sleep(0.05)
            continue
        now = [(len(v.timeline), v.status) for v in [await view_of(h) for h in hazards]]
        if now == previous:
            return
        previous = now
        await asyncio.sleep(0.05)


async def walk(
    env: WorkflowEnvironment, door: Doors, sessions: SessionFactory, steps: Sequence[Step],
    runner: WalkWorker | None = None,
) -> Failure | None:  # fmt: skip
    hazards = await open_hazards(env, 3)
    folded: dict[str, int] = {}
    try:
        await settle(env, hazards)
        await check(env, sessions, hazards, folded)
        for step in steps:
            h = hazards[step.case % len(hazards)]
            if step.kind == "worker":
                if runner is not None:
                    await runner.restart()
            elif step.kind == "time":
                view = await view_of(h)
                jump = timedelta(days=1 + step.variant % 20)
                if view.deadline is not None and step.variant % 2:
                    jump = view.deadline - await env.get_current_time() + timedelta(seconds=1)
                await sleep(env, max(jump, timedelta(seconds=1)), timedelta(days=2))
            else:
                await act(door, h, step)
            await settle(env, hazards)
            await check(env, sessions, hazards, folded)
        if runner is not None:  # a restart in every walk (the steps may draw none)
            await runner.restart()
            await settle(env, hazards)
            await check(env, sessions, hazards, folded)
        for h in hazards:  # the scripted end: cancel whatever is still open
            if h.model.is_open:
                await act(door, h, Step("cancel", variant=1))
        await settle(env, hazards)
        await check(env, sessions, hazards, folded)
        ended = [h.model.status for h in hazards]
        if any(s not in ("closed", "cancelled") for s in ended):
            raise Failure("not_closed", f"{ended}")
    except Failure as failure:
        return failure
    finally:
        for h in hazards:
            if (await describe_workflow(env.client, h.handle.id))[0] == RUNNING:
                await h.handle.terminate("walk over")
    return None


async def test_rectification_walks_agree_with_the_model(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: SessionFactory,
    http: httpx.AsyncClient,
) -> None:
    async with WalkWorker(env.client, sessions, http, settings) as runner:
        await rectification_walks(api, env, settings, sessions, runner)


async def rectification_walks(
    api: httpx.AsyncClient, env: WorkflowEnvironment, settings: Settings,
    sessions: SessionFactory, runner: WalkWorker,
) -> None:  # fmt: skip
    door = Doors.of(api, settings)

    async def walked(steps: Sequence[Step]) -> tuple[Failure | None, None]:
        return await walk(env, door, sessions, steps, runner), None

    seed, walks = await soak("rectification", 7, lambda rng: draw(rng, WEIGHTS, 3, 25), walked, 2)
    print(
        f"rectification walk: seed {seed}: {len(walks)} walks, {runner.restarts} worker "
        "restarts, no invariant violated",
        flush=True,
    )
