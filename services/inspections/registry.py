"""The enterprise and inspector registries: import from CSV or JSON, upsert, look up.

A town's registry export (one row per enterprise or inspector) is validated row by row
with the pydantic models of ``schemas.inspections.checklists``; a bad row names its line and field
and nothing is written. Imports are upserts keyed by id, so a re-import updates in place
and never duplicates (an inspector's calendar is kept).

Usage: ``python -m services.inspections.registry enterprises FILE.csv|json [--url URL]``
(or ``inspectors FILE``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.inspections.checklists import EnterpriseIn, InspectorIn
from schemas.inspections.tables import Enterprise, Inspector
from services.platform.db import SessionFactory, make_engine, make_session_factory, upsert_insert

M = TypeVar("M", bound=BaseModel)
CHUNK = 500


class RegistryError(ValueError):
    """A row that does not validate: which line, which field, why."""


def _rows(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise RegistryError(f"{path}: expected a JSON list of objects")
        return [dict(row) for row in data]
    rows = []
    for row in csv.DictReader(text.splitlines()):
        clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if "qualifications" in clean:
            parts = clean["qualifications"].replace("|", ";").split(";")
            clean["qualifications"] = [p.strip() for p in parts if p.strip()]
        rows.append({k: v for k, v in clean.items() if v != ""})
    return rows


def parse(model: type[M], rows: Iterable[dict[str, Any]], source: str = "input") -> list[M]:
    """Validate every row; the first bad one raises with its line number and fields."""
    parsed = []
    for line, row in enumerate(rows, start=1):
        try:
            parsed.append(model.model_validate(row))
        except ValidationError as error:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors())
            raise RegistryError(f"{source} row {line}: invalid {fields}: {error}") from error
    return parsed


def read_enterprises(path: Path) -> list[EnterpriseIn]:
    return parse(EnterpriseIn, _rows(path), str(path))


def read_inspectors(path: Path) -> list[InspectorIn]:
    return parse(InspectorIn, _rows(path), str(path))


async def upsert_enterprises(session_factory: SessionFactory, rows: list[EnterpriseIn]) -> int:
    now = datetime.now(UTC)
    values = [r.model_dump() | {"updated_at": now} for r in rows]
    await _upsert(session_factory, Enterprise, "id", values, keep=())
    return len(values)


async def upsert_inspectors(session_factory: SessionFactory, rows: list[InspectorIn]) -> int:
    values = [r.model_dump() for r in rows]
    await _upsert(
        session_factory,
        Inspector,
        "id",
        values,
        keep=("booked_until", "booking_version", "active_inspections"),
    )
    return len(values)


async def _upsert(
    session_factory: SessionFactory,
    table: Any,
    key: str,
    values: list[dict[str, Any]],
    keep: tuple[str, ...],
) -> None:
    if not values:
        return
    async with session_factory() as session, session.begin():
        insert = upsert_insert(session.get_bind().dialect.name)
        for start in range(0, len(values), CHUNK):
            statement = insert(table).values(values[start : start + CHUNK])
            changing = {c: statement.excluded[c] for c in values[0] if c != key and c not in keep}
            await session.execute(
                statement.on_conflict_do_update(index_elements=[key], set_=changing)
            )


async def _run(args: argparse.Namespace) -> int:
    from services.platform.migrate import upgrade
    from settings import get_settings

    url: str = args.url or get_settings().database_url
    path = Path(args.file)
    await upgrade(url)
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        if args.what == "enterprises":
            count = await upsert_enterprises(factory, read_enterprises(path))
        else:
            count = await upsert_inspectors(factory, read_inspectors(path))
    finally:
        await engine.dispose()
    print(f"imported {count} {args.what} from {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Import enterprises or inspectors.")
    parser.add_argument("what", choices=("enterprises", "inspectors"))
    parser.add_argument("file", help="a .csv (header row) or .json (list of objects) file")
    parser.add_argument("--url", help="database URL (default: GRIDPLUS_DATABASE_URL)")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
