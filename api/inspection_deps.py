"""Who may act on inspections: registered inspectors, regulators, an enterprise itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException

from api.deps import CurrentPrincipal, EnterpriseId, State, require
from api.inspection_access import inspector_grid
from schemas.inspections.tables import Inspector
from schemas.inspections.workflow import INSPECTOR_ROLE
from schemas.platform.common import Actor
from services.intake import devices


async def inspector_principal(principal: CurrentPrincipal, state: State) -> Actor:
    """An inspector's token, for an inspector in the registry (403 otherwise)."""
    if principal.role != INSPECTOR_ROLE:
        raise HTTPException(403, f"a {principal.role} may not inspect")
    async with state.sessions() as session:
        row = await session.get(Inspector, principal.id)
    if row is None:
        raise HTTPException(403, f"{principal.id} is not a registered inspector")
    return principal


async def bound_device(
    principal: Annotated[Actor, require("device")], state: State, enterprise_id: EnterpriseId
) -> Actor:
    """A device token, for a device bound to the enterprise in the path (403 naming what it
    is bound to otherwise): its observations become findings against that enterprise."""
    async with state.sessions() as session:
        try:
            await devices.bound_to(session, principal.id, enterprise_id)
        except devices.DeviceNotBound as error:
            raise HTTPException(403, str(error)) from error
    return principal


@dataclass(frozen=True)
class Reinspector:
    """Who re-inspects, and for an inspector the registry's grid (the workflow's validator
    lets the booked inspector, the grid's inspectors and the department through)."""

    actor: Actor
    grid_id: str | None


async def reinspector_principal(principal: CurrentPrincipal, state: State) -> Reinspector:
    """A re-inspection: a registered inspector, or a department (the workflow checks which)."""
    if principal.role == "department":
        return Reinspector(principal, None)
    await inspector_principal(principal, state)
    return Reinspector(principal, await inspector_grid(state.sessions, principal.id))


InspectorPrincipal = Annotated[Actor, Depends(inspector_principal)]
BoundDevice = Annotated[Actor, Depends(bound_device)]
ReinspectorPrincipal = Annotated[Reinspector, Depends(reinspector_principal)]
Regulator = Annotated[Actor, require("supervisor", "department")]
# Who may read inspections and hazards at all: regulators, inspectors and enterprises (each
# detail only as ``api.inspection_access`` says); stewards, devices, citizens may not.
InspectionReader = Annotated[
    Actor, require("supervisor", "department", INSPECTOR_ROLE, "enterprise")
]


def enterprise_itself(principal: Actor, enterprise_id: str) -> Actor:
    """Writes: only the enterprise, for itself; any other caller gets 403."""
    if principal.role != "enterprise" or principal.id != enterprise_id:
        raise HTTPException(403, f"only enterprise {enterprise_id} may do this")
    return principal


def may_read_enterprise(principal: Actor, enterprise_id: str) -> Actor:
    """Reads: the enterprise itself, or a regulator (supervisor, department)."""
    if principal.role in ("supervisor", "department"):
        return principal
    return enterprise_itself(principal, enterprise_id)
