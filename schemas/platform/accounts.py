"""Accounts, browser sessions and failed sign-ins of the web pages (``api/web``).

Why tables and not signed cookies alone: sign-out and an unlock must take effect on every
API process at once, and the lock-out must count failures across processes, so the
session and the failures live in the database; the cookie holds only a random id whose
SHA-256 is the row's key (a stolen database dump opens no session).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


class WebAccount(SQLModel, table=True):
    """A person of the linkage center (``supervisor``) or a department clerk (``department``).

    ``grids`` are the grids they oversee; ``all_grids`` marks a center head who sees all.
    """

    __tablename__ = "web_account"

    username: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(max_length=120)
    role: str = Field(max_length=16)  # supervisor | department
    department: str | None = Field(default=None, max_length=40)
    grids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    all_grids: bool = False
    password_hash: str = Field(max_length=255)
    disabled: bool = False
    created_at: datetime = Field(sa_type=DateTime(timezone=True))


class WebSession(SQLModel, table=True):
    """One signed-in browser: who (as the ``Actor`` the API knows), until when, its CSRF token."""

    __tablename__ = "web_session"

    key_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=140, index=True)
    display_name: str = Field(max_length=120)
    role: str = Field(max_length=16)
    actor_id: str = Field(max_length=64)
    grids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    all_grids: bool = False
    method: str = Field(max_length=8)  # password | oidc
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)


class WebLoginFailure(SQLModel, table=True):
    """One wrong password for a username; the lock-out counts these within a window."""

    __tablename__ = "web_login_failure"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
