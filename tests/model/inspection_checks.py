"""The invariants of the inspection walk, after every step; the settling between steps;
and the scripted resolution that drives every inspection and hazard to its end.

Each check reads the real thing (the workflow's query, its history, its search attributes,
the projection, the API) and compares it with the model or with another real thing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import text
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from schemas.inspections.rectification import RectificationView
from schemas.inspections.workflow import InspectionView
from services.inspections.queries import projected_hazard, projected_inspection
from services.platform.db import SessionFactory
from tests.model.case_checks import COMPLETED, RUNNING, describe_workflow
from tests.model.case_model import ModelViolation
from tests.model.inspection_hazards import act_hazard
from tests.model.inspection_model import Message
from tests.model.inspection_world import SUPERVISOR, Hazard, Insp, World, query
from tests.model.walk_worker import pending_work
from tests.model.walker import Failure, Step

SAME = ("status", "inspector_id", "deadline", "overdue", "hazards", "hazards_closed", "attempts")
SAME_HAZARD = ("status", "deadline", "overdue", "escalated", "rework_count", "proof_count")
TIMERS = {
    EventType.EVENT_TYPE_TIMER_STARTED: 1,
    EventType.EVENT_TYPE_TIMER_FIRED: -1,
    EventType.EVENT_TYPE_TIMER_CANCELED: -1,
}


async def history(client: Client, workflow_id: str) -> int:
    """Open timers of the workflow's latest run; fails on any ``WorkflowTaskFailed``."""
    events = (await client.get_workflow_handle(workflow_id).fetch_history()).events
    timers = 0
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            cause = event.workflow_task_failed_event_attributes.failure.message
            raise Failure("workflow_task_failed", f"{workflow_id}: {event.event_id}: {cause}")
        timers += TIMERS.get(event.event_type, 0)
    return timers


async def insp_view(i: Insp) -> InspectionView:
    return await query(i.handle, "view", InspectionView)


async def hazard_view(h: Hazard) -> RectificationView:
    return await query(h.handle, "view", RectificationView)


async def settle(world: World, patience: int = 600) -> None:
    """Until nothing moves: the server holds no workflow task or activity for any of the
    walk's workflows (activities such as booking and projection run in real time; a worker
    restart leaves a workflow task to time out before the next worker takes it), and two
    rounds of queries in a row see the same. Queries only when nothing is pending: the
    walk's uncached worker replays a whole workflow to answer one."""
    previous: list[Any] = []
    quiet = 0
    client = world.env.client
    for _ in range(patience):
        live = [i.handle.id for i in world.inspections if not i.model.completed]
        live += [h.handle.id for h in world.hazards if not h.completed]
        if any([await pending_work(client, workflow_id) for workflow_id in live]):
            quiet = 0
            await asyncio.sleep(0.05)
            continue
        now: list[Any] = []
        for i in list(world.inspections):
            if i.model.completed:  # a query on a closed workflow replays it: skip
                continue
            view = await insp_view(i)
            world.adopt_hazards(i, view)
            now.append((len(view.timeline), view.status, view.hazards_closed))
            if view.status == "preparing":
                quiet = -1
        for h in world.hazards:
            if not h.completed:
                hv = await hazard_view(h)
                now.append((len(hv.timeline), hv.status))
        quiet = quiet + 1 if now == previous else 0
        if quiet >= 2:
            return
        previous = now
        await asyncio.sleep(0.05)


async def received(sessions: SessionFactory, ref_id: str) -> Counter[Message]:
    """The messages stored for an inspection or a hazard: (channel, recipient, kind)."""
    async with sessions() as session:
        rows = (
            await session.execute(
                text("SELECT channel, recipient, kind FROM notification WHERE case_id = :c"),
                {"c": ref_id[:64]},
            )
        ).all()
    return Counter((str(c), str(r), str(k)) for c, r, k in rows)


async def messages_agree(
    sessions: SessionFactory, ref_id: str, want: Counter[Message], patience: int = 100
) -> None:
    """Each party received exactly the messages the model expects, each as many times
    (given a few seconds: messages leave through a queue beside the workflow)."""
    got: Counter[Message] = Counter()
    for _ in range(patience):
        got = await received(sessions, ref_id)
        if got == want:
            return
        await asyncio.sleep(0.05)
    missing, extra = want - got, got - want
    kinds = sorted({kind for _, _, kind in [*missing, *extra]})
    raise Failure(
        "messages:" + ",".join(kinds),
        f"{ref_id}: missing {sorted(missing.items())}, unexpected {sorted(extra.items())}",
    )


async def projected_agrees(world: World, sessions: SessionFactory, i: Insp, live: Any) -> None:
    """The projection row equals the live query (given a few seconds to catch up)."""
    for _ in range(100):
        async with sessions() as session:
            row = await projected_inspection(session, i.model.iid)
        if row is not None and all(getattr(row, f) == getattr(live, f) for f in SAME):
            return
        await asyncio.sleep(0.05)
    got = {f: getattr(row, f) for f in SAME} if row else None
    want = live.model_dump(include=set(SAME))
    raise Failure("projection", f"{i.model.iid}: {got} vs live {want}")


async def check_inspection(world: World, sessions: SessionFactory, i: Insp, now: datetime) -> None:
    m, client = i.model, world.env.client
    status, _, attributes = await describe_workflow(client, i.handle.id)
    timers = await history(client, i.handle.id)
    view = await insp_view(i)
    world.learn_form(i, view)
    try:
        for entry in view.timeline[m.seq :]:
            m.apply(entry)
    except ModelViolation as violation:
        raise Failure(f"timeline:{violation.kind}", str(violation)) from violation
    m.completed = status == COMPLETED
    seen = {s.item.code: (s.outcome, s.severity) for s in view.items if s.outcome is not None}
    if seen != m.answered:
        raise Failure("items", f"{m.iid}: {seen} vs model {m.answered}")
    if view.inspector_id != m.inspector and m.inspector is not None:
        raise Failure("inspector", f"{m.iid}: {view.inspector_id} vs model {m.inspector}")
    response = await world.door.api.get(
        f"/inspections/{m.iid}", headers=world.door.headers(SUPERVISOR)
    )
    got = response.json()
    entries = len(view.timeline) if got.get("live") else 0  # ended: read from the projection
    if got.get("status") != view.status or len(got.get("timeline", [])) != entries:
        raise Failure("get_vs_query", f"{m.iid}: {got.get('status')} vs {view.status}")
    await projected_agrees(world, sessions, i, view)
    await messages_agree(sessions, m.iid, m.messages)
    if status != RUNNING:
        if status != COMPLETED or m.is_open:
            raise Failure("ended_badly", f"{m.iid}: {status} while the model says {m.status}")
        return
    if not m.is_open:
        raise Failure("not_completed", f"{m.iid}: {m.status} but the workflow runs on")
    if attributes.get("GpStatus") != view.status:
        raise Failure("search_attributes", f"{m.iid}: {attributes} vs {view.status}")
    waits_on_party = view.overdue and view.inspector_id and view.inspector_id in view.waiting_for
    if view.status == "preparing":
        raise Failure("stuck_preparing", f"{m.iid}: {view.waiting_for}")
    if view.status == "unassigned" and timers < 1:
        raise Failure("waits_on_nothing", f"{m.iid}: unassigned without a retry timer")
    timed = view.deadline is not None and view.deadline > now and timers > 0
    if view.status in ("scheduled", "visiting") and not waits_on_party and not timed:
        raise Failure("waits_on_nothing", f"{m.iid}: {view.status} due {view.deadline}")
    if view.status == "reported" and view.hazards_closed >= view.hazards:
        raise Failure("waits_on_nothing", f"{m.iid}: reported with every hazard closed")


async def check_hazard(world: World, sessions: SessionFactory, h: Hazard, now: datetime) -> None:
    m, client = h.model, world.env.client
    status, _, attributes = await describe_workflow(client, h.handle.id)
    timers = await history(client, h.handle.id)
    view = await hazard_view(h)
    try:
        for entry in view.timeline[m.seq :]:
            m.apply(entry)
    except ModelViolation as violation:
        raise Failure(f"timeline:h{violation.kind}", str(violation)) from violation
    if status == RUNNING:
        if not m.is_open:
            raise Failure("not_completed", f"{m.rid}: {m.status} but the workflow runs on")
        if attributes.get("GpStatus") != view.status:
            raise Failure("search_attributes", f"{m.rid}: {attributes} vs {view.status}")
        if (view.deadline is not None) != m.has_deadline:
            raise Failure("deadline_presence", f"{m.rid}: {view.deadline} {view.status}")
        if view.deadline is not None and (view.deadline <= now or timers < 1):
            raise Failure("stalled", f"{m.rid}: {view.status} due {view.deadline}")
        if view.deadline is None and not view.overdue:
            raise Failure("waits_on_nothing", f"{m.rid}: {view.waiting_for}")
    elif status != COMPLETED or m.is_open:
        raise Failure("ended_badly", f"{m.rid}: {status} while the model says {m.status}")
    else:
        h.completed = True
    await messages_agree(sessions, m.rid, m.messages)
    for _ in range(100):
        async with sessions() as session:
            row = await projected_hazard(session, m.rid)
        if row is not None and all(getattr(row, f) == getattr(view, f) for f in SAME_HAZARD):
            return
        await asyncio.sleep(0.05)
    raise Failure("projection", f"{m.rid}: {row} vs live {view.status} {view.deadline}")


async def check(world: World, sessions: SessionFactory) -> None:
    now = await world.env.get_current_time()
    for i in world.inspections:
        if not i.model.completed:  # checked once more after it completed, then no longer
            await check_inspection(world, sessions, i, now)
    for h in world.hazards:
        if not h.completed:
            await check_hazard(world, sessions, h, now)


async def resolve(world: World, sessions: SessionFactory) -> None:
    """The scripted end: every visit is made (or cancelled), every hazard proven and passed."""
    for _ in range(12):
        moved = False
        for i in world.inspections:
            m = i.model
            if m.status == "unassigned" or (m.status == "scheduled" and not m.inspector):
                await world.act(i, Step("cancel", variant=1))
            elif m.status == "scheduled":
                await world.act(i, Step("visit", variant=0))
            elif m.status == "visiting":
                await world.act(i, Step("results", variant=(12 + 10) * 12))
                await world.act(i, Step("finish", variant=0))
            moved = moved or m.is_open
        for h in world.hazards:
            if h.model.status in ("rectifying", "escalated"):
                await act_hazard(world, h, Step("proof", variant=1))
            elif h.model.status == "proof_submitted":
                await act_hazard(world, h, Step("reinspect", variant=7))  # the department, passed
        await settle(world)
        await check(world, sessions)
        if not moved or all(i.model.completed for i in world.inspections):
            break
    ended = {i.model.iid: (i.model.status, i.model.ended) for i in world.inspections}
    ended.update({h.model.rid: (h.model.status, 1) for h in world.hazards})
    if any(s not in ("closed", "cancelled") or n != 1 for s, n in ended.values()):
        raise Failure("not_closed", f"{ended}")
    for i in world.inspections:
        result = await i.handle.result()
        if result.status != i.model.status or result.hazards_closed != i.model.hazards:
            raise Failure("result", f"{i.model.iid}: {result} vs {i.model.status}")
    for i in world.inspections:  # once more at the end: every party, every message
        await messages_agree(sessions, i.model.iid, i.model.messages)
    for h in world.hazards:
        await messages_agree(sessions, h.model.rid, h.model.messages)
