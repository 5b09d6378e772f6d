"""Steward teams' own duty rosters: validated, stored, and looked up for running cases.

**A team is a grid's stewards.** The model has no team of its own: every steward belongs to
exactly one grid (``Steward.grid_id``, the 网格 the town's steward teams are organised by),
and micro-grids belong to their parent grid, so the grid id names the team. A team without
a roster of its own keeps the default (``working_hours.json`` ``stewards``, carried in every
case's policy snapshot). An operator loads a roster like a calendar year, from a small file
(``python -m tools.rosters load``) or ``POST /supervisors/rosters``; both go through
``validate_roster``, which refuses an unknown team, a period ending before it starts,
overlapping periods or seasons, and names the field (HTTP 422).

Running cases read rosters only through the calendar activity (``roster_slice``): the answer
is in their history, so a roster loaded later changes the steward deadlines computed from
then on and never a replay (docs/working-time.md).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlmodel import select

from schemas.platform.common import Line
from schemas.worktime import WorkingRules
from schemas.worktime.tables import TeamRoster
from services.cases.filing import IntakeError
from services.platform.db import SessionFactory
from services.worktime.loading import refusal

TEAM = r"^[A-Za-z0-9_-]{1,64}$"
HHMM = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$", max_length=5, examples=["08:00"])]
MMDD = Annotated[str, Field(pattern=r"^\d{2}-\d{2}$", max_length=5, examples=["06-01"])]


def team_office(team: str) -> str:
    """The ``WorkingRules.office`` of a team's roster (what the timeline and slices show)."""
    return f"steward_team:{team}"


class PeriodBody(BaseModel):
    start: HHMM
    end: HHMM


class SeasonBody(BaseModel):
    name: Annotated[Line, Field(min_length=1, max_length=40)]
    first_day: MMDD
    last_day: MMDD
    periods: list[PeriodBody] = Field(min_length=1, max_length=12)


class TeamRosterBody(BaseModel):
    """A team's duty hours as the operator writes them (local town time)."""

    team: str = Field(pattern=TEAM, examples=["G061"], description="the grid whose stewards")
    days: Literal["every_day", "working_days"] = Field(
        default="every_day",
        description="every_day: a roster that ignores holidays; working_days: the national "
        "calendar decides",
    )
    always_open: bool = False
    periods: list[PeriodBody] = Field(default_factory=list, max_length=12)
    seasons: list[SeasonBody] = Field(default_factory=list, max_length=12)


class TeamRosterLoaded(BaseModel):
    team: str
    rules: WorkingRules
    replaced: bool = Field(description="an earlier roster of this team was replaced")


def _field_of(message: str) -> str:
    return "seasons" if "season" in message else "periods"


def validate_roster(body: TeamRosterBody, teams: Collection[str]) -> WorkingRules:
    """The roster as ``WorkingRules``, or ``IntakeError`` naming the field at fault."""
    if body.team not in teams:
        raise IntakeError("team", f"unknown team {body.team!r} (a grid id, e.g. G061)")
    try:
        return WorkingRules.model_validate(
            {"office": team_office(body.team), **body.model_dump(exclude={"team"})}
        )
    except ValidationError as error:
        raise refusal(error, _field_of) from error


async def store_roster(
    sessions: SessionFactory, team: str, rules: WorkingRules, loaded_by: str
) -> bool:
    """Store (or replace) one team's roster; True when it replaced an earlier one."""
    async with sessions() as session:
        row = await session.get(TeamRoster, team)
        replaced = row is not None
        if row is None:
            row = TeamRoster(team=team, rules={}, loaded_by="", loaded_at=datetime.now(UTC))
        row.rules = rules.model_dump(mode="json")
        row.loaded_by = loaded_by[:140]
        row.loaded_at = datetime.now(UTC)
        session.add(row)
        await session.commit()
    return replaced


async def load_roster(
    sessions: SessionFactory, body: TeamRosterBody, by: str, teams: Collection[str]
) -> TeamRosterLoaded:
    rules = validate_roster(body, teams)
    replaced = await store_roster(sessions, body.team, rules, by)
    return TeamRosterLoaded(team=body.team, rules=rules, replaced=replaced)


async def team_roster(sessions: SessionFactory, team: str) -> WorkingRules | None:
    """The team's own roster, or None (it keeps the default)."""
    async with sessions() as session:
        row = await session.get(TeamRoster, team)
    return WorkingRules.model_validate(row.rules) if row is not None else None


async def loaded_rosters(sessions: SessionFactory) -> dict[str, WorkingRules]:
    async with sessions() as session:
        rows = (await session.execute(select(TeamRoster))).scalars().all()
    return {row.team: WorkingRules.model_validate(row.rules) for row in rows}


async def remove_roster(sessions: SessionFactory, team: str) -> bool:
    """The team goes back to the default; True when it had a roster of its own."""
    async with sessions() as session:
        row = await session.get(TeamRoster, team)
        if row is None:
            return False
        await session.delete(row)
        await session.commit()
    return True
