"""The revocation list of API tokens (``api.security``, ``services.platform.revocation``).

A row revokes either one token (``kind="jti"``, ``value`` its id) or every token of one
subject issued up to ``not_before`` (``kind="subject"``, ``value`` ``role:id``): a stolen
token is cut off without rotating the secret everyone's tokens are signed with.
``expires_at`` is when the row stops mattering (every token it refuses has expired by then,
since no token lives longer than ``GRIDPLUS_TOKEN_MAX_TTL``), so the list stays short.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel


class TokenRevocation(SQLModel, table=True):
    """One revoked token, or all of one subject's tokens issued up to ``not_before``."""

    __tablename__ = "token_revocation"

    key: str = Field(primary_key=True, max_length=200)  # "jti:<id>" or "subject:<role>:<id>"
    kind: str = Field(max_length=8)  # jti | subject
    value: str = Field(max_length=190)
    not_before: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    revoked_by: str = Field(max_length=140)
    reason: str | None = Field(default=None, max_length=500)
