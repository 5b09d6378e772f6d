"""Accounts of the web pages: argon2 password hashes, the lock-out, demo accounts, a CLI.

The lock-out counts wrong passwords per username in the database (``web_login_failure``)
within ``GRIDPLUS_WEB_LOCKOUT_WINDOW``, so several API processes agree on it; while locked,
even the right password is refused (an attacker learns nothing by guessing on). A success
clears the count; ``unlock`` clears it by hand.

Command line (uses ``GRIDPLUS_DATABASE_URL``)::

    python -m api.web.accounts create NAME --role supervisor [--grid G001 ...|--all-grids]
    python -m api.web.accounts create NAME --role department --department urban_management
    python -m api.web.accounts list
    python -m api.web.accounts unlock NAME
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlmodel import col

from schemas.platform.accounts import WebAccount, WebLoginFailure
from services.platform.db import SessionFactory
from settings import Settings, get_settings

WebRole = Literal["supervisor", "department"]
HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters


@lru_cache
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so both paths cost one argon2 verify
    (made on first use: importing the app should not spend an argon2 hash)."""
    return HASHER.hash(secrets.token_urlsafe(16))


MIN_PASSWORD = 10


class SignInRefused(Exception):
    """Wrong username or password, a disabled or a locked account (``code`` says which)."""

    def __init__(self, code: Literal["bad_credentials", "locked"]) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class NewAccount:
    """What ``create_account`` needs; the password is hashed before anything is stored."""

    username: str
    password: str
    role: WebRole
    display_name: str | None = None
    department: str | None = None
    grids: tuple[str, ...] = ()
    all_grids: bool = False


def _validate(new: NewAccount) -> None:
    if new.role == "department" and not new.department:
        raise ValueError("a department account needs --department CODE")
    if new.role == "supervisor" and new.department:
        raise ValueError("a supervisor account has no department")
    if len(new.password) < MIN_PASSWORD:
        raise ValueError(f"a password has at least {MIN_PASSWORD} characters")


async def create_account(sessions: SessionFactory, new: NewAccount) -> WebAccount:
    """Store a new account (ValueError if the name is taken or the fields do not fit)."""
    _validate(new)
    row = WebAccount(
        username=new.username,
        display_name=new.display_name or new.username,
        role=new.role,
        department=new.department,
        grids=list(new.grids),
        all_grids=new.all_grids,
        password_hash=HASHER.hash(new.password),
        created_at=datetime.now(UTC),
    )
    async with sessions() as session, session.begin():
        if await session.get(WebAccount, new.username) is not None:
            raise ValueError(f"account {new.username} exists")
        session.add(row)
    return row


async def failures_since(sessions: SessionFactory, username: str, since: datetime) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(WebLoginFailure)
            .where(col(WebLoginFailure.username) == username, col(WebLoginFailure.at) >= since)
        )
    return int(count or 0)


async def is_locked(sessions: SessionFactory, settings: Settings, username: str) -> bool:
    since = datetime.now(UTC) - settings.web_lockout_window
    return await failures_since(sessions, username, since) >= settings.web_lockout_failures


async def check_password(
    sessions: SessionFactory, settings: Settings, username: str, password: str
) -> WebAccount:
    """The account if the password is right and it is neither locked nor disabled.

    Every wrong password is recorded (known username or not: the lock-out does not reveal
    which names exist); a right one clears the record."""
    if await is_locked(sessions, settings, username):
        raise SignInRefused("locked")
    async with sessions() as session:
        account = await session.get(WebAccount, username)
    stored = account.password_hash if account else _dummy_hash()
    # argon2 takes tens of milliseconds and 64 MiB by design: off the event loop
    ok = await asyncio.to_thread(_matches, stored, password)
    ok = ok and account is not None and not account.disabled
    async with sessions() as session, session.begin():
        if not ok:
            # failures older than the window no longer count: drop them as new ones come
            stale = datetime.now(UTC) - settings.web_lockout_window
            await session.execute(
                delete(WebLoginFailure).where(
                    col(WebLoginFailure.username) == username, col(WebLoginFailure.at) < stale
                )
            )
            session.add(WebLoginFailure(username=username[:64], at=datetime.now(UTC)))
        else:
            await session.execute(
                delete(WebLoginFailure).where(col(WebLoginFailure.username) == username)
            )
    if not ok or account is None:
        raise SignInRefused("bad_credentials")
    if HASHER.check_needs_rehash(account.password_hash):
        await _rehash(sessions, username, password)
    return account


def _matches(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def _rehash(sessions: SessionFactory, username: str, password: str) -> None:
    async with sessions() as session, session.begin():
        row = await session.get(WebAccount, username)
        if row is not None:
            row.password_hash = HASHER.hash(password)


async def unlock(sessions: SessionFactory, username: str) -> int:
    """Forget the wrong passwords of ``username``; how many there were."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            delete(WebLoginFailure).where(col(WebLoginFailure.username) == username)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def list_accounts(sessions: SessionFactory) -> list[WebAccount]:
    async with sessions() as session:
        rows = await session.execute(select(WebAccount).order_by(col(WebAccount.username)))
    return list(rows.scalars())


DEMO_ACCOUNTS = (
    NewAccount("center-head", "", "supervisor", "中心主任 Center head", all_grids=True),
    NewAccount("center-duty", "", "supervisor", "值班员 Duty officer", grids=("G001", "G002")),
    NewAccount(
        "clerk-urban", "", "department", "城管科员 Urban clerk", department="urban_management"
    ),
)


async def ensure_demo_accounts(sessions: SessionFactory) -> list[tuple[str, str, str]]:
    """Demo accounts for ``make run``: (username, password, role) of each, with a fresh
    random password on every call (an existing demo account gets a new one), so a demo
    database never carries a known password."""
    made: list[tuple[str, str, str]] = []
    for template in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        async with sessions() as session, session.begin():
            row = await session.get(WebAccount, template.username)
            if row is not None:
                row.password_hash = HASHER.hash(password)
        if row is None:
            new = NewAccount(**{**template.__dict__, "password": password})
            await create_account(sessions, new)
        await unlock(sessions, template.username)
        made.append((template.username, password, template.role))
    return made


def demo_banner(made: list[tuple[str, str, str]], base_url: str) -> list[str]:
    """The lines ``make run`` prints for the demo accounts (``ensure_demo_accounts``)."""
    lines = [f"  web sign-in       {base_url.rstrip('/')}/web/signin"]
    lines += [f"    {role:<15} {username} / {password}" for username, password, role in made]
    return lines


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from services.platform.db import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    try:
        sessions = make_session_factory(engine)
        if args.command == "create":
            password = args.password or getpass.getpass(f"password for {args.username}: ")
            new = NewAccount(
                args.username,
                password,
                args.role,
                args.name,
                args.department,
                tuple(args.grid),
                args.all_grids,
            )
            await create_account(sessions, new)
            print(f"created {args.role} {args.username}")
        elif args.command == "list":
            for row in await list_accounts(sessions):
                locked = " locked" if await is_locked(sessions, settings, row.username) else ""
                grids = "all" if row.all_grids else ",".join(row.grids) or "-"
                print(f"{row.username}\t{row.role}\t{row.department or '-'}\t{grids}{locked}")
        else:
            print(f"unlocked {args.username} ({await unlock(sessions, args.username)} failures)")
    except ValueError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.web.accounts")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="a new account (asks for the password)")
    create.add_argument("username")
    create.add_argument("--role", choices=("supervisor", "department"), required=True)
    create.add_argument("--department", default=None, help="department code (clerks)")
    create.add_argument("--grid", action="append", default=[], help="a grid they oversee")
    create.add_argument("--all-grids", action="store_true", help="a center head: every grid")
    create.add_argument("--name", default=None, help="display name")
    create.add_argument("--password", default=None, help="else asked on the terminal")
    commands.add_parser("list", help="every account, and which are locked")
    unlock_cmd = commands.add_parser("unlock", help="clear the wrong passwords of an account")
    unlock_cmd.add_argument("username")
    return asyncio.run(_run(get_settings(), parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
