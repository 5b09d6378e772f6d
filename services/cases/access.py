"""Who reads a case: the rule shared by the case's detail and timeline routes."""

from __future__ import annotations

from schemas.cases.views import CaseView
from schemas.platform.common import Actor
from services.supervision.scope import EVERYWHERE, GridScope


def may_read(principal: Actor, case: CaseView, scope: GridScope = EVERYWHERE) -> bool:
    """The center reads everything in its grid scope (``services.supervision.scope``);
    others the cases they have taken part in.

    Always by (role, id): ids of different roles may coincide (a citizen named ``S0199``
    is not steward S0199). A department reads the cases it holds or has held (sent to it,
    per the timeline), not every case of its types: a case still with a steward is not
    its business yet.
    """
    if principal.role == "supervisor":
        return scope.covers(case.grid_id)
    if any(e.actor == principal for e in case.timeline):
        return True
    if principal.role == "department":
        holds = case.handler == "department" and case.department == principal.id
        return holds or any(e.data.get("department") == principal.id for e in case.timeline)
    if principal.role == "steward":
        return case.steward_id == principal.id or any(
            e.data.get("steward") == principal.id for e in case.timeline
        )
    return False
