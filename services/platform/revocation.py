"""Revoked API tokens: write the list, and read it through a short per-process cache.

Two kinds of row in ``token_revocation``: one token by its ``jti``, or a subject
(``role:id``) with a "not before" time: every token of that subject issued at or before it
is refused (a lost phone, a steward who left). A revocation is a human action, so the list
is short; rows go once every token they refuse has expired (``expires_at``: revocation time
plus ``GRIDPLUS_TOKEN_MAX_TTL``).

Each API process keeps the whole live list in memory (``RevocationCache``) and reloads it
when it is older than ``GRIDPLUS_TOKEN_REVOCATION_CACHE_SECONDS``: one small query every few
seconds per replica instead of one per request. A revocation made through this replica's
route is seen at once; through another replica or the CLI within that many seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, select
from sqlmodel import col

from schemas.platform.common import Actor, Role, Text
from schemas.platform.tokens import TokenRevocation
from services.platform.db import SessionFactory, upsert_insert

Kind = Literal["jti", "subject"]
JTI_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


class RevokeRequest(BaseModel):
    """Which tokens to revoke: exactly one of ``jti`` and ``subject`` (``role:id``)."""

    model_config = ConfigDict(extra="forbid")

    jti: Annotated[str | None, Field(pattern=JTI_PATTERN, description="one token's id")] = None
    subject: Annotated[
        str | None,
        Field(
            max_length=100,
            pattern=r"^[a-z]+:[A-Za-z0-9_.:-]+$",
            description="ROLE:ID: every token of this subject issued so far",
        ),
    ] = None
    reason: Annotated[Text | None, Field(max_length=500)] = None

    @field_validator("subject", mode="after")
    @classmethod
    def _known_role(cls, value: str | None) -> str | None:
        if value is not None and value.split(":", 1)[0] not in get_args(Role):
            raise ValueError(f"the role must be one of {', '.join(get_args(Role))}")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> RevokeRequest:
        if (self.jti is None) == (self.subject is None):
            raise ValueError("name exactly one of jti and subject")
        return self

    @property
    def kind(self) -> Kind:
        return "jti" if self.jti is not None else "subject"

    @property
    def value(self) -> str:
        value = self.jti if self.jti is not None else self.subject
        assert value is not None  # one of them, by the validator
        return value


class RevocationOut(BaseModel):
    """A revocation as stored: what, up to when, until when it matters, and by whom."""

    kind: Kind
    value: str
    not_before: datetime
    expires_at: datetime
    revoked_by: str
    reason: str | None = None


async def revoke(
    sessions: SessionFactory,
    request: RevokeRequest,
    revoked_by: str,
    max_ttl: timedelta,
    now: datetime | None = None,
) -> RevocationOut:
    """Store the revocation (again: a subject's "not before" moves to now); prune old rows."""
    now = now or datetime.now(UTC)
    values = {
        "key": f"{request.kind}:{request.value}",
        "kind": request.kind,
        "value": request.value,
        "not_before": now,
        "expires_at": now + max_ttl,
        "revoked_by": revoked_by[:140],
        "reason": request.reason,
    }
    async with sessions() as session, session.begin():
        insert = upsert_insert(session.get_bind().dialect.name)
        statement = insert(TokenRevocation).values(**values)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["key"],
                set_={k: statement.excluded[k] for k in values if k != "key"},
            )
        )
        await session.execute(delete(TokenRevocation).where(col(TokenRevocation.expires_at) < now))
    return RevocationOut.model_validate({k: v for k, v in values.items() if k != "key"})


@dataclass(frozen=True)
class RevocationList:
    """The live revocations: token ids, and each subject's "not before" (unix seconds)."""

    jtis: frozenset[str] = frozenset()
    not_before: dict[str, int] = field(default_factory=dict)

    def refusal(self, actor: Actor, jti: str, iat: int) -> str | None:
        """Why a token is revoked, or None. ``iat`` is whole seconds, so a token issued in
        the same second as a subject's revocation is refused too (mint it again)."""
        if jti in self.jtis:
            return "token revoked"
        cutoff = self.not_before.get(f"{actor.role}:{actor.id}")
        if cutoff is not None and iat <= cutoff:
            return "token revoked (every token of this subject issued before the revocation)"
        return None


async def load(sessions: SessionFactory, now: datetime | None = None) -> RevocationList:
    """Every revocation that can still refuse a token."""
    now = now or datetime.now(UTC)
    async with sessions() as session:
        rows = (
            await session.execute(
                select(
                    col(TokenRevocation.kind),
                    col(TokenRevocation.value),
                    col(TokenRevocation.not_before),
                ).where(col(TokenRevocation.expires_at) >= now)
            )
        ).all()
    jtis = frozenset(value for kind, value, _ in rows if kind == "jti")
    not_before = {
        value: int(_aware(at).timestamp()) for kind, value, at in rows if kind == "subject"
    }
    return RevocationList(jtis, not_before)


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class RevocationCache:
    """This process's copy of the list, reloaded when older than ``ttl_seconds``."""

    def __init__(
        self, ttl_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self._list: RevocationList | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def current(self, sessions: SessionFactory) -> RevocationList:
        """The list, reloading it (once, whoever asks at the same time) when stale."""
        if self._list is not None and self.clock() - self._loaded_at < self.ttl:
            return self._list
        async with self._lock:
            if self._list is None or self.clock() - self._loaded_at >= self.ttl:
                started = self.clock()
                self._list = await load(sessions)
                self._loaded_at = started
            return self._list

    def invalidate(self) -> None:
        """Reload on the next request (after a revocation through this process)."""
        self._list = None
