"""Grid scope: which cases a supervisor may see and act on (issue 17, item 7).

The one rule, used by the JSON API (``api.deps``), the pages (``api.web``) and the queries
(``services.supervision.queue``): a supervisor whose web account oversees grids G001–G010
sees and acts on cases of those grids only; the center's head (``all_grids``) sees all.

Why the account table and not the token: API tokens carry a role and an id only, and a
supervisor's grids change with duty rosters; reading them from ``web_account`` (by the
token's subject) makes a change take effect at once on every process. A supervisor token
whose subject has no web account keeps the old meaning (the whole town): machine clients
of the center (the wall board, integrations) are issued such tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, true
from sqlmodel import col

from schemas.cases.tables import CaseRecord
from schemas.platform.accounts import WebAccount
from schemas.platform.common import Actor
from services.platform.db import SessionFactory


@dataclass(frozen=True)
class GridScope:
    """All grids, or only ``grids``."""

    all: bool = True
    grids: frozenset[str] = frozenset()

    def covers(self, grid_id: str | None) -> bool:
        return self.all or (grid_id is not None and grid_id in self.grids)

    def clause(self) -> ColumnElement[bool]:
        """The projection's rows in scope, for a WHERE (``grid_id`` is indexed)."""
        if self.all:
            return true()
        return col(CaseRecord.grid_id).in_(sorted(self.grids))


EVERYWHERE = GridScope()


def scope_for(all_grids: bool, grids: tuple[str, ...] | list[str]) -> GridScope:
    """A scope from an account's (or a session's) fields; no grid at all means none."""
    return EVERYWHERE if all_grids else GridScope(all=False, grids=frozenset(grids))


async def scope_of(sessions: SessionFactory, actor: Actor) -> GridScope:
    """The scope of an API caller: a supervisor's account decides; every other role is
    limited by its own rules (``services.cases.access``), not by grids."""
    if actor.role != "supervisor":
        return EVERYWHERE
    async with sessions() as session:
        account = await session.get(WebAccount, actor.id)
    if account is None or account.role != "supervisor":
        return EVERYWHERE
    return scope_for(account.all_grids, account.grids)


async def case_grid(sessions: SessionFactory, case_id: str) -> str | None:
    """The grid of a case per the projection (None before it is projected)."""
    async with sessions() as session:
        row = await session.get(CaseRecord, case_id)
    return row.grid_id if row is not None else None


class OutOfScope(Exception):
    """The case lies outside the grids the supervisor oversees (-> 403)."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"case {case_id} is outside the grids you oversee")


async def check_case(sessions: SessionFactory, scope: GridScope, case_id: str) -> None:
    """OutOfScope unless the case's grid is in scope. A case not projected yet is let
    through only for the whole-town scope (its grid is unknown)."""
    if scope.all:
        return
    if not scope.covers(await case_grid(sessions, case_id)):
        raise OutOfScope(case_id)
