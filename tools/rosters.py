"""Operator CLI for steward teams' duty rosters (a team is a grid's stewards).

    python -m tools.rosters check FILE            validate a roster file (JSON or YAML)
    python -m tools.rosters load FILE [--by WHO]  validate it (the team must be a grid of
                                                  the database) and store it: steward
                                                  stages that start from then on use it
    python -m tools.rosters show TEAM             the roster the team counts with

A roster file, e.g. a team on duty 08:00-20:00 every day, with longer summer hours:

    team: G061
    days: every_day
    periods: [{start: "08:00", end: "20:00"}]
    seasons: [{name: summer, first_day: "06-01", last_day: "08-31",
               periods: [{start: "07:00", end: "21:00"}]}]

`check` and `load` exit 1 and name the impossible entry (an end before its start,
overlapping periods or seasons, an unknown team).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.worktime import WorkingRules
from services.cases.filing import IntakeError
from services.worktime.rosters import TeamRosterBody, validate_roster


def parse_roster(path: Path, teams: Collection[str] | None = None) -> TeamRosterBody:
    """The file's roster, checked as the route checks it (the team too, when ``teams``)."""
    text = path.read_text(encoding="utf-8")
    try:
        raw: Any = json.loads(text) if path.name.endswith(".json") else yaml.safe_load(text)
        body = TeamRosterBody.model_validate(raw)
    except (ValueError, yaml.YAMLError) as error:  # ValidationError is a ValueError
        if isinstance(error, ValidationError):
            first = error.errors()[0]
            where = ".".join(map(str, first["loc"])) or "roster"
            raise ValueError(f"{path}: {where}: {first['msg']}") from error
        raise ValueError(f"{path}: not valid JSON/YAML: {error}") from error
    try:
        validate_roster(body, teams if teams is not None else [body.team])
    except IntakeError as error:
        raise ValueError(f"{path}: {error.field}: {error.message}") from error
    return body


async def _with_db(database_url: str | None, work: Any) -> Any:
    from services.platform.db import make_engine, make_session_factory
    from settings import get_settings

    engine = make_engine(database_url or get_settings().database_url)
    try:
        return await work(make_session_factory(engine))
    finally:
        await engine.dispose()


async def _load(path: Path, by: str, database_url: str | None) -> tuple[TeamRosterBody, bool]:
    from sqlalchemy import text

    from services.worktime.rosters import store_roster

    async def work(sessions: Any) -> tuple[TeamRosterBody, bool]:
        async with sessions() as session:
            rows = await session.execute(text("SELECT id FROM grid WHERE level = 'grid'"))
            teams = {row[0] for row in rows}
        body = parse_roster(path, teams)
        rules = validate_roster(body, teams)
        return body, await store_roster(sessions, body.team, rules, by)

    result: tuple[TeamRosterBody, bool] = await _with_db(database_url, work)
    return result


async def _show(team: str, database_url: str | None) -> WorkingRules | None:
    from services.worktime.rosters import team_roster

    async def work(sessions: Any) -> WorkingRules | None:
        return await team_roster(sessions, team)

    own: WorkingRules | None = await _with_db(database_url, work)
    return own


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.rosters", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate a roster file")
    check.add_argument("file", type=Path)
    load = commands.add_parser("load", help="validate a roster file and store it")
    load.add_argument("file", type=Path)
    load.add_argument("--by", default="operator", help="who loads it (kept with the roster)")
    load.add_argument("--database-url", default=None, help="default: GRIDPLUS_DATABASE_URL")
    show = commands.add_parser("show", help="the roster a team counts with")
    show.add_argument("team")
    show.add_argument("--database-url", default=None, help="default: GRIDPLUS_DATABASE_URL")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            body = parse_roster(args.file)
            print(f"{args.file}: team {body.team} ok (the team is checked on load)")
            return 0
        if args.command == "load":
            body, replaced = asyncio.run(_load(args.file, args.by, args.database_url))
            print(f"{args.file}: team {body.team} {'replaced' if replaced else 'loaded'}")
            return 0
        own = asyncio.run(_show(args.team, args.database_url))
        if own is None:
            print(f"{args.team}: the default roster (working_hours.json stewards)")
        else:
            print(f"{args.team}: {own.model_dump_json()}")
        return 0
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
