"""A SYNTHETIC demo town, modelled on Wuzhen, for `make run`, tests and benchmarks.

Nothing here is real data: no real boundary, person, phone number or address. The town
only has the *shape* of the real one (108 grids, one pilot community cut into 90
micro-grids, stewards from 8 industries) so that dispatch, escalation and statistics can
be exercised end to end on a laptop. Every grid and steward row is marked
``synthetic=True`` so it can be told apart from real registry data and deleted.

How it is built (deterministic: the same seed gives the same town, byte for byte):

- a 12 x 9 lattice over about 8 km x 7 km centred on (30.745 N, 120.487 E); every lattice
  vertex is jittered by up to a quarter of a cell, and neighbouring cells share their
  vertices, so the 108 quadrilateral grids ``G001``..``G108`` (row-major from the
  north-west) tile the town with no gap and no overlap (see ``tools.demo_lattice``);
- the pilot grid ``G017`` is cut into a jittered 10 x 9 lattice of micro-grids
  ``M001``..``M090`` that tile it exactly;
- neighbours are the grids (or micro-grids of the same parent) whose boundaries touch,
  corners included, found with a shapely STRtree;
- stewards are spread one per grid first, then at random with the pilot grid weighted
  three times; each gets a Chinese name, an industry, skills that fit it, a language
  (about 10% English), a duty state (about 70% on duty), a capacity of 1 to 3 and a
  position strictly inside their grid;
- departments are the catalog's (``schemas.cases.catalog.default_catalog``).

Usage: ``python -m tools.demo_data [--url URL] [--stewards N] [--seed S] [--export DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from schemas.cases.catalog import default_catalog
from schemas.platform.tables import DepartmentRow, Grid
from schemas.stewards.tables import Steward
from services.platform.db import SessionFactory, make_engine, make_session_factory
from tools.demo_lattice import Lattice, LatticeSpec, Ring, polygon
from tools.demo_people import StewardSeed, make_stewards

TOWN = LatticeSpec(
    centre_lat=30.745, centre_lon=120.487, width_m=8000, height_m=7000, cols=12, rows=9
)
PILOT_GRID_ID = "G017"
PILOT_COMMUNITY = "试点社区 / Pilot community"
MICRO_COLS, MICRO_ROWS = 10, 9
INSERT_CHUNK = 5000


@dataclass(frozen=True)
class Town:
    """Every row of the demo town, ready to insert; built by ``build_town``."""

    seed: int
    pilot_grid_id: str
    grids: list[Grid]
    micro_grids: list[Grid]
    stewards: list[StewardSeed]
    departments: list[DepartmentRow]

    def all_grids(self) -> list[Grid]:
        """Grids then micro-grids: what ``services.platform.geo.GridIndex`` takes."""
        return [*self.grids, *self.micro_grids]


def _grid_row(
    grid_id: str,
    name: str,
    ring: Ring,
    level: str,
    parent_id: str | None = None,
    community: str | None = None,
) -> Grid:
    centroid = shapely.Polygon(ring).centroid
    return Grid(
        id=grid_id,
        name=name,
        level=level,
        parent_id=parent_id,
        community=community,
        geometry=polygon(ring),
        centroid_lat=round(centroid.y, 7),
        centroid_lon=round(centroid.x, 7),
        neighbours=[],
        synthetic=True,
    )


def _set_neighbours(rows: list[Grid], rings: list[Ring]) -> None:
    """Neighbours are the cells whose boundaries touch (an edge or only a corner)."""
    polys = [shapely.Polygon(ring) for ring in rings]
    tree = shapely.STRtree(polys)
    for index, row in enumerate(rows):
        hits = tree.query(polys[index], predicate="touches")
        row.neighbours = sorted(rows[int(k)].id for k in hits if int(k) != index)


def build_town(seed: int = 17, stewards: int = 400, *, now: datetime | None = None) -> Town:
    """Build the whole synthetic town in memory; pure apart from ``now`` (default: now).

    Geometry and people use separate random streams, so the same seed gives the same
    grids whatever the number of stewards.
    """
    if stewards < 0:
        raise ValueError("stewards must be >= 0")
    lattice = Lattice(TOWN, random.Random(f"{seed}:lattice"))
    pilot = int(PILOT_GRID_ID[1:]) - 1
    pilot_i, pilot_j = divmod(pilot, TOWN.cols)
    # Densify the pilot cell first: its edges, shared with the neighbours, change.
    micro_rings = lattice.subdivide(
        pilot_i, pilot_j, MICRO_COLS, MICRO_ROWS, random.Random(f"{seed}:micro")
    )
    grid_rings: list[Ring] = []
    grids: list[Grid] = []
    for i in range(TOWN.rows):
        for j in range(TOWN.cols):
            number = i * TOWN.cols + j + 1
            grid_id = f"G{number:03d}"
            ring = lattice.cell_ring(i, j)
            grid_rings.append(ring)
            community = PILOT_COMMUNITY if grid_id == PILOT_GRID_ID else None
            grids.append(
                _grid_row(grid_id, f"网格 {number} / Grid {number}", ring, "grid", None, community)
            )
    micro_grids = [
        _grid_row(
            f"M{k:03d}",
            f"微网格 {k} / Micro-grid {k}",
            ring,
            "micro",
            PILOT_GRID_ID,
            PILOT_COMMUNITY,
        )
        for k, ring in enumerate(micro_rings, start=1)
    ]
    _set_neighbours(grids, grid_rings)
    _set_neighbours(micro_grids, micro_rings)
    people = make_stewards(
        random.Random(f"{seed}:stewards"),
        stewards,
        {g.id: shapely.Polygon(r) for g, r in zip(grids, grid_rings, strict=True)},
        PILOT_GRID_ID,
        now or datetime.now(UTC),
    )
    departments = [
        DepartmentRow(code=d.code, name_zh=d.name_zh, name_en=d.name_en, endpoint=None)
        for d in default_catalog().departments
    ]
    return Town(seed, PILOT_GRID_ID, grids, micro_grids, people, departments)


def _grid_dict(row: Grid) -> dict[str, Any]:
    return {column.name: getattr(row, column.name) for column in Grid.__table__.columns}  # type: ignore[attr-defined]


async def load_demo_data(session_factory: SessionFactory, town: Town) -> bool:
    """Insert the town in one transaction, unless grids already exist.

    Returns True if it loaded, False if it did nothing: running it again (or two loaders
    racing at start-up) is harmless. Bulk inserts keep 100,000 stewards to seconds.
    """
    async with session_factory() as session:
        try:
            async with session.begin():
                if await session.scalar(select(func.count()).select_from(Grid)):
                    return False
                await session.execute(insert(Grid), [_grid_dict(g) for g in town.all_grids()])
                known = set((await session.scalars(select(col(DepartmentRow.code)))).all())
                missing = [
                    {"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en}
                    for d in town.departments
                    if d.code not in known
                ]
                if missing:
                    await session.execute(insert(DepartmentRow), missing)
                for start in range(0, len(town.stewards), INSERT_CHUNK):
                    chunk = town.stewards[start : start + INSERT_CHUNK]
                    await session.execute(insert(Steward), [s.as_dict() for s in chunk])
        except IntegrityError:
            return False  # another loader won the race; its data is the same town
    return True


def _iso(value: object) -> str:
    """JSON for the only non-JSON values we write: timestamps."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def export_town(town: Town, directory: Path) -> list[Path]:
    """Write grids.geojson, stewards.json and departments.json for inspection."""
    directory.mkdir(parents=True, exist_ok=True)
    features = [
        {
            "type": "Feature",
            "id": g.id,
            "geometry": g.geometry,
            "properties": {k: v for k, v in _grid_dict(g).items() if k not in ("id", "geometry")},
        }
        for g in town.all_grids()
    ]
    stewards = [s.as_dict() for s in town.stewards]
    departments = [d.model_dump() for d in town.departments]
    out = {
        "grids.geojson": {"type": "FeatureCollection", "features": features},
        "stewards.json": stewards,
        "departments.json": departments,
    }
    paths = []
    for name, payload in out.items():
        path = directory / name
        text = json.dumps(payload, ensure_ascii=False, indent=1, default=_iso)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


async def _run(args: argparse.Namespace) -> int:
    from services.platform.migrate import upgrade
    from settings import get_settings

    url: str = args.url or get_settings().database_url
    town = build_town(args.seed, args.stewards)
    if args.export:
        for path in export_town(town, Path(args.export)):
            print(f"wrote {path}")
    if args.no_db:
        return 0
    await upgrade(url)
    engine = make_engine(url)
    try:
        loaded = await load_demo_data(make_session_factory(engine), town)
    finally:
        await engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    if loaded:
        print(
            f"loaded {len(town.grids)} grids, {len(town.micro_grids)} micro-grids, "
            f"{len(town.stewards)} stewards, {len(town.departments)} departments into {where}"
        )
    else:
        print(f"grids already present in {where}: nothing loaded")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: migrate the database, then load the demo town if it is empty."""
    parser = argparse.ArgumentParser(description="Load the SYNTHETIC demo town.")
    parser.add_argument("--url", help="database URL (default: GRIDPLUS_DATABASE_URL)")
    parser.add_argument("--stewards", type=int, default=400, help="number of stewards")
    parser.add_argument("--seed", type=int, default=17, help="random seed")
    parser.add_argument("--export", metavar="DIR", help="also write GeoJSON/JSON files here")
    parser.add_argument("--no-db", action="store_true", help="only export, touch no database")
    args = parser.parse_args(argv)
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
