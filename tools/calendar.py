"""Operator CLI for the national calendar (the State Council's yearly holiday notice).

    python -m tools.calendar check FILE         validate a year file (JSON or YAML)
    python -m tools.calendar show YEAR [FILE]   the year's non-working days, package + file
    python -m tools.calendar load FILE [--by WHO] validate and store it in the database
                                                (GRIDPLUS_DATABASE_URL): deadlines cases
                                                compute from then on use it

A new notice is published each November; until the package has it, an operator writes
the year as a small file (see docs/working-time.md) and checks it here. `check` exits 1
and names the impossible entry.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from schemas.worktime.models import YearSchedule
from schemas.worktime.sources import UnknownYearError, from_package, parse_year


def load_file(path: Path) -> YearSchedule:
    return parse_year(path.read_text(encoding="utf-8"), path.name)


async def store(year: YearSchedule, by: str, database_url: str | None = None) -> bool:
    """Store a validated year in the service's database; True when it replaced one."""
    from services.platform.db import make_engine, make_session_factory
    from services.worktime.calendar_store import store_year
    from settings import get_settings

    engine = make_engine(database_url or get_settings().database_url)
    try:
        return await store_year(make_session_factory(engine), year, by)
    finally:
        await engine.dispose()


def _describe(year: YearSchedule) -> list[str]:
    holidays = set(year.holidays)
    lines = [f"{year.year} ({year.source})"]
    for day in year.non_working_days():
        why = "holiday" if day in holidays else "weekend"
        lines.append(f"  {day} {day:%a} {why}")
    lines.extend(f"  {day} {day:%a} make-up working day" for day in year.workdays)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.calendar", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate a year file")
    check.add_argument("file", type=Path)
    show = commands.add_parser("show", help="print a year's non-working days")
    show.add_argument("year", type=int)
    show.add_argument("file", type=Path, nargs="?", help="a year file that wins over the package")
    load = commands.add_parser("load", help="validate a year file and store it in the database")
    load.add_argument("file", type=Path)
    load.add_argument("--by", default="operator", help="who loads it (kept with the year)")
    load.add_argument("--database-url", default=None, help="default: GRIDPLUS_DATABASE_URL")
    args = parser.parse_args(argv)
    try:
        if args.command == "load":
            year = load_file(args.file)
            replaced = asyncio.run(store(year, args.by, args.database_url))
            verb = "replaced" if replaced else "loaded"
            print(f"{args.file}: {year.year} {verb}, {len(year.holidays)} holidays")
            return 0
        if args.command == "check":
            year = load_file(args.file)
            print(
                f"{args.file}: {year.year} ok, {len(year.holidays)} holidays, "
                f"{len(year.workdays)} make-up working days"
            )
            return 0
        if args.file is not None:
            year = load_file(args.file)
            if year.year != args.year:
                raise ValueError(f"{args.file} is for {year.year}, not {args.year}")
        else:
            year = from_package(args.year)
        print("\n".join(_describe(year)))
        return 0
    except (OSError, ValueError, UnknownYearError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
