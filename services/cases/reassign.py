"""A supervisor's reassign to a named steward: checked in the registry before the update.

The workflow's reservation of a named steward falls back to the nearest other steward when
the named one cannot be booked, which is right for a race but wrong as the answer to a
supervisor who named someone off duty, full, unknown or without the skill: they must hear
why (HTTP 409 ``steward_unavailable``) and nothing changes. A race between this check and the
reservation is still possible; the workflow then records ``named_steward_unavailable`` in
the timeline and asks the nearest other steward, never the one who let the offer lie.
"""

from __future__ import annotations

from temporalio.client import Client

from schemas.cases.catalog import default_catalog
from schemas.cases.views import CaseView
from schemas.cases.workflow import ActionOutcome, ReassignCase
from schemas.platform.updates import Update
from schemas.stewards.tables import Steward
from services.cases import operations as cases
from services.platform.db import SessionFactory
from services.temporal_gateway import ActionRefused

# the stages whose result waits for verification: no reassign (the workflow's validator)
RESULT_TO_VERIFY = ("resolved", "verified")


async def check_named_steward(sessions: SessionFactory, case: CaseView, steward_id: str) -> None:
    """``ActionRefused("steward_unavailable")`` unless the steward could take the case now.

    The steward who already holds this case passes (a retried reassign with the same key
    must get its first answer, not a refusal caused by its own booking).
    """
    if case.steward_id == steward_id and case.status in ("dispatched", "accepted"):
        return
    async with sessions() as session:
        steward = await session.get(Steward, steward_id)
    case_type = default_catalog().case_type(case.case_type)
    needed = set(case_type.skills) if case_type else set()
    reason: str | None = None
    if steward is None:
        reason = f"no steward {steward_id} in the registry"
    elif steward.duty_state != "on_duty":
        reason = f"steward {steward_id} is {steward.duty_state}"
    elif steward.active_tasks >= steward.capacity:
        reason = f"steward {steward_id} is full ({steward.active_tasks}/{steward.capacity} tasks)"
    elif not needed <= set(steward.skills):
        missing = ", ".join(sorted(needed - set(steward.skills)))
        reason = f"steward {steward_id} lacks the skill(s) {missing}"
    if reason is not None:
        raise ActionRefused("steward_unavailable", reason)


async def reassign(
    client: Client, sessions: SessionFactory, case_id: str, action: ReassignCase
) -> ActionOutcome:
    """Check the named steward (if any) against the live case, then run the update.

    Only where the case could be reassigned at all: a case that ended, or whose result
    waits for verification, is refused by the update's validator for what it is
    (``case_ended``, ``wrong_stage``), not for whom the supervisor named (the model
    walker's D3: "steward unavailable" there suggested that naming another would do).
    """
    if action.steward_id:
        case = await cases.live_view(client, case_id)
        # ended or unknown (None), or waiting for verification: the update answers that
        if case is not None and case.status not in RESULT_TO_VERIFY:
            await check_named_steward(sessions, case, action.steward_id)
    return await cases.act(client, case_id, Update.REASSIGN, action)
