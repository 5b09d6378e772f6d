"""One walk over the case workflow: open every kind of case, run the steps, check after each,
resolve whatever is still open, and check that every case ended once with its messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from constants import case_workflow_id
from schemas.cases.views import CaseResult
from tests.model import case_checks as checks
from tests.model.case_keys import perform
from tests.model.case_rules import Action
from tests.model.case_steps import SEEN, department, reopen, send
from tests.model.case_world import OPENINGS, SUPERVISOR, CaseWorld, Tracked
from tests.model.walker import Failure, Step
from tests.support import save_history


async def check_all(world: CaseWorld) -> None:
    """Every invariant, on every case of the walk (see ``case_checks``)."""
    now = await world.env.get_current_time()
    for case in world.cases:
        if case.ended:
            continue
        status, run_id, attributes = await checks.describe(world.client, case.case_id)
        case.run_id = run_id
        await checks.no_failed_tasks(world.client, case.case_id)
        view = await world.query(case)
        SEEN.update(f"entry:{e.kind}" for e in view.timeline[case.folded :])
        case.folded = checks.fold(case.model, view, case.folded)
        if status != checks.RUNNING:
            await ended(world, case, status)
            continue
        checks.same_as_model(case.model, view)
        detail = await world.door.get_case(SUPERVISOR, case.case_id)
        checks.api_equals_query(detail.json(), view)
        checks.attributes_agree(view, attributes)
        lag = not world.rules.confirm_keeps_rest and case.model.path == "both"
        await checks.projection_agrees(world.sessions, view, world.rules.projection_at_rest, lag)
        checks.waits_on_someone(case.model, view, now)


async def ended(world: CaseWorld, case: Tracked, status: int) -> None:
    if status != checks.COMPLETED:
        raise Failure("ended_badly", f"{case.case_id}: execution status {status}")
    handle = world.client.get_workflow_handle(case_workflow_id(case.case_id))
    result = CaseResult.model_validate(await handle.result())
    if result.status != case.model.status:
        raise Failure(
            "result", f"{case.case_id}: result {result.status}, model {case.model.status}"
        )
    case.ended, case.result = True, result.status
    if case.model.ends != case.runs:
        raise Failure("ends", f"{case.case_id}: {case.model.ends} ends in {case.runs} runs")


async def resolve(world: CaseWorld, rounds: int = 8) -> None:
    """The scripted end: whoever holds each open case finishes it, a supervisor verifies."""
    for _ in range(rounds):
        open_cases = [c for c in world.cases if not c.ended]
        if not open_cases:
            return
        for case in open_cases:
            m = case.model
            base = f"/supervisors/cases/{case.case_id}"
            if m.status == "resolved":
                action = Action("verify", "supervisor", SUPERVISOR.id, passed=True)
                await send(
                    world, case, "verify", f"{base}/verify", SUPERVISOR, {"passed": True}, action
                )
            elif m.handler == "department" and m.status in ("escalated", "department_handling"):
                await department(world, case, 0 if m.status == "escalated" else 1)
            else:
                action = Action("escalate", "supervisor", SUPERVISOR.id)
                body = {"reason": "closing the walk"}
                await send(world, case, "escalate", f"{base}/escalate", SUPERVISOR, body, action)
        await world.settle()
        await check_all(world)
    still = [f"{c.case_id} {c.model.status}" for c in world.cases if not c.ended]
    raise Failure("not_closed", f"still open after the scripted resolution: {still}")


async def reopen_one(world: CaseWorld) -> None:
    """A supervisor reopens the first closed case (a new run), which is resolved again:
    the walk's steps rarely find a case closed, so the reopen door is taken here once."""
    closed = next((c for c in world.cases if c.result == "closed"), None)
    if closed is None:
        return
    await reopen(world, closed)
    await world.settle()
    await check_all(world)
    await resolve(world)


async def check_end(world: CaseWorld) -> None:
    """All closed or cancelled, each run once, and every party got its messages."""
    for case in world.cases:
        if case.result not in ("closed", "cancelled"):
            raise Failure("not_closed", f"{case.case_id}: {case.result}")
        got = await checks.messages_of(world.sessions, case.case_id)
        missing = case.model.messages - got
        if missing:
            signature = "messages:" + ",".join(sorted({kind for kind, _ in missing}))
            raise Failure(
                signature, f"{case.case_id}: missing {sorted(missing)}; got {sorted(got)}"
            )
        if case.model.ends == 0 or (
            any(kind == "case_closed" for kind, _ in got)
            and "closed" not in {case.result}
            and case.runs == 1
        ):
            raise Failure("messages:case_closed", f"{case.case_id}: case_closed but {case.result}")


async def save_histories(world: CaseWorld) -> None:
    """With ``GRIDPLUS_SAVE_HISTORIES=1``: each case's last run, for the replay tests.

    Named by source, type and ending (``case_model_<source>_<type>_<result>``), so walks
    with other seeds add paths instead of overwriting the hand-written tests' histories.
    """
    for case in world.cases:
        handle = world.client.get_workflow_handle(case_workflow_id(case.case_id))
        reopened = "_reopened" if case.runs > 1 else ""
        name = f"model_{case.source}_{case.model.policy.case_type.code}_{case.result}{reopened}"
        await save_history(handle, name)


async def walk(world: CaseWorld, steps: Sequence[Step], seed: int) -> Failure | None:
    """Run one walk; the first failure, or None."""
    try:
        await world.begin(seed, OPENINGS)
        await world.settle()
        await check_all(world)
        for step in steps:
            await perform(world, step)
            await world.settle()
            await check_all(world)
        await resolve(world)
        await reopen_one(world)
        await check_end(world)
        await save_histories(world)
    except Failure as failure:
        return failure
    except Exception as error:
        return Failure(f"error:{type(error).__name__}", repr(error)[:2000])
    return None
