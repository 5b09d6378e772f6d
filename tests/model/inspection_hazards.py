"""The hazards' actions in the inspection walk: the enterprise's proof (itself or another),
re-inspection (the department, the booked inspector, another of the grid or not), the
department's enforcement, the center's cancel, and repeated keys; each predicted by the
model (``decide_hazard``) before the API is asked.
"""

from __future__ import annotations

import uuid

from schemas.inspections.checklists import default_checklists
from schemas.platform.common import Actor
from tests.model.inspection_model import decide_hazard
from tests.model.inspection_world import PHOTO, SUPERVISOR, Hazard, World
from tests.model.walker import Failure, Step


async def act_hazard(world: World, h: Hazard, step: Step) -> None:
    """One action on a hazard (proof, re-inspection, enforcement, cancel, a repeated key),
    predicted by ``decide_hazard`` first."""
    m, v = h.model, step.variant
    rid = m.rid
    if step.kind == "hrepeat":
        if h.last is None:
            return
        kind, path, actor, body, key, previous = h.last
        again = await world.door.post(path, actor, body, key)
        world.steps += 1
        ended = again.code == "rectification_ended" and not m.is_open
        if (
            previous.ok
            and not ended
            and (again.status, again.body) != (previous.status, previous.body)
        ):
            raise Failure("repeat_key", f"{rid}: {again} {again.body} vs {previous.body}")
        return
    others = [d for d in default_checklists().departments if d != m.department]
    dept = Actor(role="department", id=m.department if v % 3 else others[v % len(others)])
    kind, actor, path, body = "cancel", SUPERVISOR, f"/rectifications/{rid}/cancel", {}
    if step.kind == "proof":
        actor = Actor(role="enterprise", id=m.enterprise if v % 4 else "ET-OTHER")
        kind, path = "proof", f"/enterprises/{actor.id}/rectifications/{rid}/proof"
        body = {"note": "已整改", "evidence": PHOTO}
    elif step.kind == "reinspect":
        actor = dept if v % 2 else world.someone(v // 2, h.booked, m.enterprise, m.department)
        kind, path = "reinspect", f"/rectifications/{rid}/reinspection"
        body = {"passed": (v // 7) % 3 != 0, "note": "复查"}
    elif step.kind == "enforce":
        kind, actor, path = "enforcement", dept, f"/rectifications/{rid}/enforcement"
        body = {"measure": "order", "note": "责令改正"}
        if v % 2:
            body["extra"] = 86400 * (1 + v % 7)
    else:
        actor = SUPERVISOR if v % 3 else dept
        body = {"reason": "recorded in error"}
    verdict = decide_hazard(m, kind, actor.role, actor.id, h.booked, h.grid, world.inspectors)
    key = f"mdl-{uuid.uuid4().hex}"
    answer = await world.door.post(path, actor, body, key)
    world.steps += 1
    if verdict.ok != answer.ok or (not verdict.ok and verdict.code != answer.code):
        raise Failure(
            f"answer:h{kind}:{verdict.code or 'ok'}",
            f"{rid} ({m.status}) {kind} by {actor.role}:{actor.id}: model "
            f"{verdict.code or 'ok'}, API {answer} {answer.body}",
        )
    h.last = (kind, path, actor, body, key, answer)
