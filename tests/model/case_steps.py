"""The case walker's steps: each resolves its symbolic ``Step`` against the model's state,
sends the request through the real API, and compares the answer with ``decide``.

Stewards act by signed bot callbacks (valid tokens, right and wrong stewards, stale
attempts), departments and supervisors by bearer tokens (right and wrong ones), devices
with their keys; plus repeated and reused idempotency keys, time jumps across deadlines
and worker restarts.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from schemas.platform.common import Actor
from tests.model.case_rules import Action, Verdict, decide
from tests.model.case_world import SUPERVISOR, CaseWorld, Sent, Tracked, expect
from tests.model.doors import Answer, now_iso
from tests.model.walker import Failure

# how often each kind of step is drawn
WEIGHTS: dict[str, int] = {
    "bot": 30,
    "dept": 20,
    "sup": 20,
    "device": 5,
    "repeat": 6,
    "reuse": 3,
    "time": 12,
    "restart": 2,
}
BOT_ACTIONS = ("accept", "decline", "arrived", "resolved", "escalate")
BOT_KIND = {"escalate": "escalate_request"}
DEPT_OPS = (
    ("dept_accept", "accept"),
    ("dept_report", "result"),
    ("dept_return", "return"),
    ("dept_extension", "extension"),
    ("dept_extension", "extension"),
)


# what the walks reached: answers by action and code, timeline entries by kind (printed)
SEEN: Counter[str] = Counter()


def compare(case: Tracked, label: str, verdict: Verdict, answer: Answer) -> None:
    """The API's answer must be the model's: accepted, or refused with the same code."""
    SEEN[f"{label}:{answer.code or 'ok'}"] += 1
    same = verdict.ok == answer.ok and (verdict.ok or verdict.code == answer.code)
    if same and verdict.ok and verdict.after is not None and isinstance(answer.body, dict):
        status = answer.body.get("status", answer.body.get("case_status"))
        same = status == verdict.after
    if not same:
        raise Failure(
            f"answer:{label}:{verdict.code or 'ok'}",
            f"{case.case_id} ({case.model.path}, {case.model.status}): model "
            f"{'ok' if verdict.ok else verdict.code} {verdict.after or ''}, "
            f"API {answer} {answer.body}",
        )


def dept(code: str) -> Actor:
    return Actor(role="department", id=code)


async def send(
    world: CaseWorld, case: Tracked, label: str, path: str, actor: Actor, body: dict[str, Any],
    action: Action, *, expect_status: int | None = None,
) -> Answer | None:  # fmt: skip
    """Post an action the model decides; None when the model says not to send it."""
    verdict = decide(case.model, action)
    if verdict.skip:
        world.log.append(f"  skipped {label}: known to break the tree as built")
        return None
    key = f"mdl-{uuid.uuid4().hex}"
    answer = await world.door.post(path, actor, body, key)
    if expect_status is not None:
        expect(
            answer.status == expect_status and not answer.ok,
            f"answer:{label}:http{expect_status}",
            f"{case.case_id}: {answer} {answer.body}",
        )
    else:
        compare(case, label, verdict, answer)
    sent = Sent(path, actor, body, key, action, answer)
    case.last = sent
    if answer.ok:
        case.keys[key] = sent
    world.log.append(f"  {label} by {actor.id}: {answer}")
    return answer


async def bot(world: CaseWorld, case: Tracked, v: int) -> None:
    m = case.model
    other = (v // 1080) % 8
    if other in (0, 1) and world.rules.steward_verification:  # verify_request's buttons
        await bot_verify(world, case, v)
        return
    if other == 2:  # a button pressed by someone it does not belong to, or forged
        await bot_forged(world, case, v)
        return
    action = BOT_ACTIONS[v % 5]
    who = (v // 5) % 6
    offer = m.handle if who < 3 else m.confirm if who == 3 else None
    if offer is not None and (v // 30) % 3 != 0:  # mostly what the holder would do next
        action = ("resolved", "resolved", "arrived", "escalate")[(v // 90) % 4]
        if not offer.accepted:
            action = "accept" if (v // 90) % 4 else "decline"
    if who == 5 and m.handle is not None:
        steward, attempt = m.handle.steward, max(0, m.handle.attempt - 1)
    elif offer is not None:
        steward, attempt = offer.steward, offer.attempt
    else:
        holders = {o.steward for o in (m.handle, m.confirm) if o is not None}
        others = [s for s in case.stewards if s not in holders] or case.stewards
        steward = others[(v // 30) % len(others)]
        attempt = m.handle.attempt if m.handle else 1
    verdict = decide(m, Action(BOT_KIND.get(action, action), "steward", steward, attempt=attempt))
    body = world.door.callback(steward, case.case_id, attempt, action)
    answer, _ = await world.door.press(body)
    compare(case, f"bot:{action}", verdict, answer)
    case.last = Sent("/bot/callback", None, body, None, None, answer)
    world.log.append(f"  bot {action} by {steward} (attempt {attempt}): {answer}")


async def bot_verify(world: CaseWorld, case: Tracked, v: int) -> None:
    """``verify_pass`` / ``verify_fail`` by the confirming steward (who is asked to), by the
    handler (self-verification) or by another steward; the model decides each."""
    m = case.model
    passed = v % 2 == 0
    who = (v // 2) % 3
    candidates = {
        0: m.confirmer,
        1: m.last_steward,
        2: case.stewards[(v // 6) % len(case.stewards)],
    }
    steward = candidates[who] or case.stewards[(v // 6) % len(case.stewards)]
    action = "verify_pass" if passed else "verify_fail"
    verdict = decide(m, Action("verify", "steward", steward, passed=passed))
    body = world.door.callback(steward, case.case_id, 1, action)
    answer, _ = await world.door.press(body)
    compare(case, f"bot:{action}", verdict, answer)
    case.last = Sent("/bot/callback", None, body, None, None, answer)
    world.log.append(f"  bot {action} by {steward}: {answer}")


async def bot_forged(world: CaseWorld, case: Tracked, v: int) -> None:
    """A valid signature on a token minted for another steward (403 ``forbidden``), or a
    body signed with the wrong secret (401 ``unauthorized``): refused before any case."""
    m = case.model
    holder = m.handle.steward if m.handle else case.stewards[0]
    intruder = next(s for s in case.stewards if s != holder)
    body = world.door.callback(holder, case.case_id, m.handle.attempt if m.handle else 1, "accept")
    if v % 2:
        body["steward_id"] = intruder
        answer, _ = await world.door.press(body)
        wanted = (403, "forbidden")
    else:
        answer, _ = await world.door.press(body, secret="not-the-gateway-secret")
        wanted = (401, "unauthorized")
    SEEN[f"bot:forged:{answer.code}"] += 1
    expect(
        (answer.status, answer.code) == wanted,
        f"answer:bot:forged{wanted[0]}",
        f"{case.case_id}: {answer} {answer.body}",
    )
    world.log.append(f"  bot forged accept ({wanted[1]}): {answer}")


async def department(world: CaseWorld, case: Tracked, v: int) -> None:
    m = case.model
    kind, route = DEPT_OPS[v % 5]
    who = (v // 5) % 5
    others = [d for d in m.policy.departments if d != m.department]
    other = others[(v // 25) % len(others)]
    sla = m.policy.case_type.sla.department
    extra = sla / 4 if v % 5 == 3 else min(sla * 1.5, timedelta(days=30))
    bodies: dict[str, dict[str, Any]] = {
        "dept_accept": {},
        "dept_report": {"note": "done by the model walker"},
        "dept_return": {"reason": "not ours (model walker)"},
        "dept_extension": {"extra": extra.total_seconds(), "reason": "more time please"},
    }
    body = bodies[kind]
    acting = m.department if who < 3 else other
    action = Action(kind, "department", acting, extra=extra)
    path_code = m.department if who == 4 else acting
    path = f"/departments/{path_code}/cases/{case.case_id}/{route}"
    status = 403 if who == 4 else None
    await send(world, case, kind, path, dept(acting), body, action, expect_status=status)


async def supervisor(world: CaseWorld, case: Tracked, v: int) -> None:
    m = case.model
    op, rare = v % 15, (v // 15) % 4
    base = f"/supervisors/cases/{case.case_id}"
    sup = SUPERVISOR
    if op in (10, 11) and rare != 0:
        op = 2  # cancels and merges end a case: rarer than the rest
    if op in (0, 1):
        action = Action("verify", "supervisor", sup.id, passed=op == 0)
        body: dict[str, Any] = {"passed": op == 0, "note": "checked on site"}
        await send(world, case, "verify", f"{base}/verify", sup, body, action)
    elif op == 2:
        body = {"note": f"hurry {uuid.uuid4().hex[:6]}"}
        await send(
            world, case, "urge", f"{base}/urge", sup, body, Action("urge", "supervisor", sup.id)
        )
    elif op == 3:
        body = {"extra": 3600, "reason": "weather"}
        await send(
            world,
            case,
            "extend",
            f"{base}/extend",
            sup,
            body,
            Action("extend", "supervisor", sup.id),
        )
    elif op in (4, 5, 6):
        named, available = None, True
        if op == 5:
            free = sorted(await world.free_stewards())
            held = {o.steward for o in (m.handle, m.confirm) if o is not None}
            bad = {*m.excluded, *held, m.last_steward}
            choices = [s for s in free if s not in bad]
            named = choices[(v // 15) % len(choices)] if choices else None
        elif op == 6:
            named = world.spare_off_duty if rare % 2 else f"NOBODY-{uuid.uuid4().hex[:6]}"
            available = False
        body = {"reason": "supervisor decides", **({"steward_id": named} if named else {})}
        action = Action(
            "reassign", "supervisor", sup.id, steward=named, steward_available=available
        )
        await send(world, case, "reassign", f"{base}/reassign", sup, body, action)
    elif op in (7, 8, 9):
        code = {
            7: None,
            8: m.policy.departments[(v // 15) % len(m.policy.departments)],
            9: "no_such_dept",
        }[op]
        body = {"reason": "for the department", **({"department": code} if code else {})}
        action = Action("escalate", "supervisor", sup.id, department=code)
        await send(world, case, "escalate", f"{base}/escalate", sup, body, action)
    elif op == 10:
        body = {"reason": "duplicate"}
        await send(
            world,
            case,
            "cancel",
            f"{base}/cancel",
            sup,
            body,
            Action("cancel", "supervisor", sup.id),
        )
    elif op in (11, 12):
        await merge(world, case, v, op == 12)
    elif op == 13:
        await reopen(world, case)
    else:
        body = {"note": "not mine to urge"}
        action = Action("urge", "department", m.department)
        await send(
            world, case, "urge", f"{base}/urge", dept(m.department), body, action, expect_status=403
        )


async def merge(world: CaseWorld, case: Tracked, v: int, into_self: bool) -> None:
    targets = [c for c in world.cases if c is not case]
    target = case if into_self else targets[(v // 60) % len(targets)]
    kind = "merge_self" if into_self else "merge_into_ended" if target.ended else "merge"
    body = {"target_case_id": target.case_id, "reason": "same place, same problem"}
    path = f"/supervisors/cases/{case.case_id}/merge"
    action = Action(kind, "supervisor", SUPERVISOR.id)
    await send(world, case, kind, path, SUPERVISOR, body, action)


async def reopen(world: CaseWorld, case: Tracked) -> None:
    path = f"/supervisors/cases/{case.case_id}/reopen"
    answer = await send(
        world, case, "reopen", path, SUPERVISOR, {"reason": "came back"},
        Action("reopen", "supervisor", SUPERVISOR.id),
    )  # fmt: skip
    if answer is not None and answer.ok:
        case.ended, case.result, case.folded, case.run_id = False, None, 0, ""
        case.runs += 1
        case.keys = {}
        case.model.run_ended()


async def device(world: CaseWorld, case: Tracked, v: int) -> None:
    if case.device is None or (case.source == "camera" and case.ended):
        await bot(world, case, v)
        return
    device_id, key = case.device
    body: dict[str, Any]
    if case.source == "sensor":
        body = {"event": "recovery", "occurred_at": now_iso(), "event_id": uuid.uuid4().hex[:16]}
        verdict = decide(case.model, Action("recovery", "device", device_id))
        answer = await world.door.device_post(device_id, key, "events", body)
        wanted = "recovered" if verdict.ok else "no_open_case"
    else:
        body = {
            "detection_type": case.model.policy.case_type.code,
            "confidence": 0.9,
            "detected_at": now_iso(),
            "snapshot_url": f"https://cams.example/{uuid.uuid4().hex}.jpg",
        }
        answer = await world.door.device_post(device_id, key, "detections", body)
        wanted = "merged"
    outcome = answer.body.get("outcome") if isinstance(answer.body, dict) else None
    expect(
        answer.status == 202 and outcome == wanted,
        f"answer:device:{wanted}",
        f"{case.case_id} ({case.model.status}): {answer} {answer.body}",
    )
    world.log.append(f"  device {device_id}: {outcome}")
