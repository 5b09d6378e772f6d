"""The case walker's steps on keys and time, and the table that runs every step.

Apart from ``case_steps`` (the actors' steps) to keep each module readable: repeating an
action with its key, reusing a key for another action, jumping the clock across deadlines.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from schemas.platform.common import Actor
from tests.model.case_rules import decide
from tests.model.case_steps import bot, compare, department, device, supervisor
from tests.model.case_world import SUPERVISOR, CaseWorld, Tracked, expect
from tests.model.walker import Step


async def repeat(world: CaseWorld, case: Tracked, v: int) -> None:
    """The last action again with the same key (or request id), or the id reused."""
    last = case.last
    if last is None:
        await bot(world, case, v)
        return
    if last.actor is None:  # a bot callback: the stored answer, or 409 for another action
        body = dict(last.body)
        conflict = v % 3 == 0
        if conflict:
            other = "decline" if body["action"] != "decline" else "accept"
            body = world.door.callback(
                body["steward_id"], body["case_id"], body["attempt"], other, body["request_id"]
            )
        answer, replayed = await world.door.press(body)
        if conflict:
            expect(
                answer.status == 409 and answer.code == "conflict",
                "bot_request_reused",
                str(answer),
            )
        else:
            expect(replayed and answer.body == last.answer.body, "bot_replay", f"{answer.body}")
        world.log.append(f"  bot repeat ({'other action' if conflict else 'same'}): {answer}")
        return
    if last.action is None or last.action.kind == "reopen":
        return
    answer = await world.door.post(last.path, last.actor, last.body, last.key)
    if last.answer.ok:
        same = answer.status == last.answer.status and answer.body == last.answer.body
        expect(same, "repeat_key", f"{case.case_id}: {answer} {answer.body} vs {last.answer.body}")
    elif last.answer.status == 409:
        compare(case, f"repeat:{last.action.kind}", decide(case.model, last.action), answer)
    world.log.append(f"  repeat {last.action.kind} with its key: {answer}")


async def reuse(world: CaseWorld, case: Tracked, v: int) -> None:
    """An accepted action's key with another body or caller: refused, never its answer."""
    if case.ended or not case.keys:
        await supervisor(world, case, 2)
        return
    sent = list(case.keys.values())[-1 - (v % len(case.keys))]
    assert sent.key is not None
    path = f"/supervisors/cases/{case.case_id}/urge"
    body = {"note": f"another body {uuid.uuid4().hex[:6]}"}
    actor = SUPERVISOR
    if v % 2 and sent.actor != SUPERVISOR:
        actor = Actor(role="supervisor", id="center-other")
    answer = await world.door.post(path, actor, body, sent.key)
    if world.rules.key_reuse_refused:
        ok = answer.status == 409 and answer.code == "idempotency_key_reused"
    else:  # as built: the stored answer of the first action, nothing done
        ok = answer.ok and answer.body == sent.answer.body
    expect(ok, "key_reused", f"{case.case_id}: key of {sent.path}: {answer} {answer.body}")
    world.log.append(f"  reuse key of {sent.path}: {answer}")


async def time_jump(world: CaseWorld, case: Tracked, v: int) -> None:
    now = await world.env.get_current_time()
    deadline = None
    if not case.ended:
        deadline = (await world.query(case)).deadline
    choice = v % 5
    if choice in (0, 3) and deadline is not None and deadline > now:
        jump = deadline - now + timedelta(seconds=1)
        if choice == 3:
            jump = (deadline - now) / 2
    else:
        jump = [
            timedelta(minutes=10),
            timedelta(minutes=10),
            timedelta(hours=1),
            timedelta(minutes=2),
            timedelta(days=1),
        ][choice]
    await world.env.sleep(jump)
    world.log.append(f"  time +{jump}")


STEPS = {
    "bot": bot,
    "dept": department,
    "sup": supervisor,
    "device": device,
    "repeat": repeat,
    "reuse": reuse,
    "time": time_jump,
}


async def perform(world: CaseWorld, step: Step) -> None:
    world.log.append(str(step))
    if step.kind == "restart":
        await world.restart_worker()
        world.log.append("  worker restarted")
        return
    await STEPS[step.kind](world, world.cases[step.case % len(world.cases)], step.variant)
