"""Steward teams' duty rosters, for the linkage center: load one, read one, drop one.

A team is a grid's stewards (``services/worktime/rosters.py``); a team without a roster of
its own keeps the default. A roster is used by the steward deadlines cases compute from
then on (each steward stage asks the calendar activity when it starts); deadlines already
set stand (docs/working-time.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, Field

from api.deps import State, Supervisor
from schemas.cases.api import Problem
from schemas.worktime import WorkingRules
from schemas.worktime.policy import load_office_hours
from services.worktime.rosters import (
    TEAM,
    TeamRosterBody,
    TeamRosterLoaded,
    load_roster,
    remove_roster,
    team_roster,
)

router = APIRouter(prefix="/supervisors/rosters", tags=["supervisors"])
ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": Problem} for status in (400, 401, 403, 413, 422)
}
Team = Annotated[str, Path(pattern=TEAM, description="a grid id: the team is its stewards")]


class TeamRosterView(BaseModel):
    team: str
    own: bool = Field(description="false: the team keeps the default roster")
    rules: WorkingRules


def _known(state: State, team: str) -> None:
    if team not in state.grids.grid_ids:
        raise HTTPException(404, f"unknown team {team!r} (a grid id, e.g. G061)")


@router.post("", response_model=TeamRosterLoaded, responses=ERRORS)
async def load_team_roster(
    body: TeamRosterBody, state: State, supervisor: Supervisor
) -> TeamRosterLoaded:
    """Load (or replace) one team's duty roster; 422 names the impossible entry."""
    return await load_roster(state.sessions, body, supervisor.id, state.grids.grid_ids)


@router.get(
    "/{team}",
    response_model=TeamRosterView,
    responses={status: {"model": Problem} for status in (401, 403, 404, 422)},
)
async def read_team_roster(team: Team, state: State, _: Supervisor) -> TeamRosterView:
    """The roster the team's steward stages count with: its own, else the default."""
    _known(state, team)
    own = await team_roster(state.sessions, team)
    if own is not None:
        return TeamRosterView(team=team, own=True, rules=own)
    hours = state.catalog.hours or load_office_hours()
    return TeamRosterView(team=team, own=False, rules=hours.stewards)


@router.delete(
    "/{team}",
    status_code=204,
    responses={status: {"model": Problem} for status in (401, 403, 404, 422)},
)
async def drop_team_roster(team: Team, state: State, _: Supervisor) -> Response:
    """The team goes back to the default roster (for stages that start from now on)."""
    _known(state, team)
    if not await remove_roster(state.sessions, team):
        raise HTTPException(404, f"team {team!r} has no roster of its own")
    return Response(status_code=204)
