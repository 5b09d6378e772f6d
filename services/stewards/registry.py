"""The steward registry: import from CSV or JSON, all or nothing.

A town's volunteer office keeps its roster in a spreadsheet. An import validates every row
first (the grid must exist, the language be one we speak, the phone look like a phone) and
writes nothing if any row is wrong, naming the row and the field. Re-importing a steward
updates their profile but keeps what the bot reports live (duty state, location, tasks).

Usage: ``python -m services.stewards.registry stewards.csv [--url DATABASE_URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlmodel import col

from schemas.platform.common import Identifier, Line
from schemas.platform.tables import Grid
from schemas.stewards.tables import Steward
from services.platform.db import SessionFactory, make_engine, make_session_factory, upsert_insert
from settings import get_settings

LANGUAGES = ("zh", "en")
SKILLS = ("traffic", "city_appearance", "mediation", "safety", "fire_safety")


class StewardImport(BaseModel):
    """One roster row."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Identifier
    name: Annotated[Line, Field(min_length=1, max_length=120)]
    phone: Annotated[str, Field(pattern=r"^\+?[0-9][0-9 -]{5,19}$")]
    grid_id: Identifier
    industry: Annotated[Line, Field(min_length=1, max_length=40)] = "resident"
    skills: list[str] = []
    languages: Annotated[list[str], Field(min_length=1)] = ["zh"]
    capacity: Annotated[int, Field(ge=0, le=20)] = 2

    @field_validator("skills", "languages", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]
        return value

    @field_validator("skills")
    @classmethod
    def _known_skills(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SKILLS))
        if unknown:
            raise ValueError(f"unknown skills {unknown}; known: {list(SKILLS)}")
        return value

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"unsupported languages {unknown}; supported: {list(LANGUAGES)}")
        return value


def _row_schema() -> dict[str, Any]:
    """A JSON row as the OpenAPI document shows it: the known skills and languages listed."""
    schema = StewardImport.model_json_schema()
    schema["properties"]["skills"] = {"type": "array", "items": {"enum": list(SKILLS)}}
    languages = {"type": "array", "items": {"enum": list(LANGUAGES)}, "minItems": 1}
    schema["properties"]["languages"] = languages
    return schema


ROW_SCHEMA = _row_schema()


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


class ImportRejected(Exception):
    """At least one row is wrong; nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} invalid row(s)")
        self.errors = errors


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int


def parse_rows(raw: list[dict[str, Any]]) -> list[StewardImport]:
    """Validate every row; raise ``ImportRejected`` listing each row and field at fault."""
    rows: list[StewardImport] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            errors.append(RowError(number, "row", "expected an object with the roster fields"))
            continue
        cleaned = {k: v for k, v in item.items() if v not in (None, "")}
        try:
            row = StewardImport.model_validate(cleaned)
        except ValidationError as error:
            for e in error.errors():
                field = ".".join(str(p) for p in e["loc"]) or "row"
                errors.append(RowError(number, field, e["msg"]))
            continue
        if row.id in seen:
            errors.append(RowError(number, "id", f"duplicate id {row.id}"))
        seen.add(row.id)
        rows.append(row)
    if errors:
        raise ImportRejected(errors)
    return rows


# Columns a roster CSV cannot do without (the others have defaults).
REQUIRED_COLUMNS = ("id", "name", "phone", "grid_id")


def parse_csv(text: str) -> list[StewardImport]:
    """Rows of a CSV whose first line names the columns; one without the required ones is
    refused (anything else would import as an empty roster: 200 and nothing done)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in REQUIRED_COLUMNS if name not in (reader.fieldnames or [])]
    if missing:
        message = (
            f"the header line must name the columns {list(REQUIRED_COLUMNS)}; missing {missing}"
        )
        raise ImportRejected([RowError(0, "header", message)])
    return parse_rows(list(reader))


def parse_json(text: str) -> list[StewardImport]:
    data = json.loads(text)
    if not isinstance(data, list):
        raise ImportRejected([RowError(0, "body", "expected a JSON array of stewards")])
    return parse_rows(data)


async def import_stewards(sessions: SessionFactory, rows: list[StewardImport]) -> ImportReport:
    """Write the rows (after checking their grids exist), keeping live duty state."""
    async with sessions() as session, session.begin():
        grids = set((await session.execute(select(col(Grid.id)))).scalars())
        errors = [
            RowError(n, "grid_id", f"unknown grid {r.grid_id}")
            for n, r in enumerate(rows, start=1)
            if r.grid_id not in grids
        ]
        if errors:
            raise ImportRejected(errors)
        ids = [r.id for r in rows]
        existing = set(
            (
                await session.execute(select(col(Steward.id)).where(col(Steward.id).in_(ids)))
            ).scalars()
        )
        insert = upsert_insert(session.get_bind().dialect.name)
        for row in rows:
            values = {
                "id": row.id,
                "name": row.name,
                "phone": row.phone,
                "grid_id": row.grid_id,
                "industry": row.industry,
                "skills": row.skills,
                "language": row.languages[0],
                "capacity": row.capacity,
                "synthetic": False,
                "updated_at": datetime.now(UTC),
            }
            statement = insert(Steward).values(**values, duty_state="off_duty", active_tasks=0)
            profile = {k: statement.excluded[k] for k in values if k != "id"}
            await session.execute(
                statement.on_conflict_do_update(index_elements=["id"], set_=profile)
            )
    return ImportReport(created=len(set(ids) - existing), updated=len(existing))


async def _main(text: str, is_json: bool, url: str) -> int:
    try:
        rows = parse_json(text) if is_json else parse_csv(text)
        engine = make_engine(url)
        report = await import_stewards(make_session_factory(engine), rows)
        await engine.dispose()
    except ImportRejected as rejected:
        for e in rejected.errors:
            print(f"row {e.row}: {e.field}: {e.message}", file=sys.stderr)
        return 1
    print(f"created {report.created}, updated {report.updated}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Import stewards from CSV or JSON")
    parser.add_argument("file", type=Path)
    parser.add_argument("--url", default=None, help="database URL (default: settings)")
    args = parser.parse_args()
    text = args.file.read_text(encoding="utf-8")
    is_json = args.file.suffix.lower() == ".json"
    sys.exit(asyncio.run(_main(text, is_json, args.url or get_settings().database_url)))


if __name__ == "__main__":
    main()
