"""The synthetic demo town: it must tile exactly, be reproducible, and load idempotently.

Geometry is checked with shapely, independently of how ``tools.demo_lattice`` built it:
a gap or an overlap between grids would make a real report unfileable or ambiguous.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import func, select

from schemas.cases.catalog import default_catalog
from schemas.platform.tables import DepartmentRow, Grid
from schemas.stewards.tables import Steward
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.migrate import upgrade
from tools.demo_data import Town, build_town, export_town, load_demo_data, main
from tools.demo_people import INDUSTRIES, SKILLS, StewardSeed

NOW = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def town() -> Town:
    return build_town(seed=17, stewards=400, now=NOW)


def _polys(rows: list[Grid]) -> list[Any]:
    return [shape(row.geometry) for row in rows]


def _assert_no_overlaps(polys: list[Any]) -> None:
    """Pairs that touch share only boundary: their intersection has no area."""
    tree = shapely.STRtree(polys)
    pairs = tree.query(polys, predicate="intersects")
    checked = 0
    for a, b in zip(*pairs, strict=True):
        if a < b:
            checked += 1
            assert polys[a].intersection(polys[b]).area == pytest.approx(0, abs=1e-15)
            assert not polys[a].overlaps(polys[b])
    assert checked >= len(polys)  # every cell has neighbours: the check did run


def test_ids_names_and_levels(town: Town) -> None:
    assert [g.id for g in town.grids] == [f"G{n:03d}" for n in range(1, 109)]
    assert [g.id for g in town.micro_grids] == [f"M{n:03d}" for n in range(1, 91)]
    assert town.grids[16].name == "网格 17 / Grid 17"
    assert {g.level for g in town.grids} == {"grid"}
    assert {g.level for g in town.micro_grids} == {"micro"}
    assert {g.parent_id for g in town.micro_grids} == {town.pilot_grid_id} == {"G017"}
    assert all(g.community for g in town.micro_grids)
    assert all(g.synthetic for g in town.all_grids())
    assert all(g.parent_id is None for g in town.grids)


def test_grids_are_valid_ccw_polygons_with_inner_centroids(town: Town) -> None:
    for row in town.all_grids():
        poly = shape(row.geometry)
        assert row.geometry["type"] == "Polygon"
        assert poly.is_valid and poly.exterior.is_ccw, row.id
        assert poly.contains(shapely.Point(row.centroid_lon, row.centroid_lat)), row.id


def test_grids_tile_the_town_without_gaps_or_overlaps(town: Town) -> None:
    polys = _polys(town.grids)
    union = shapely.union_all(polys)
    assert union.geom_type == "Polygon"
    assert len(union.interiors) == 0
    assert sum(p.area for p in polys) == pytest.approx(union.area, rel=1e-12)
    _assert_no_overlaps(polys)
    # About 8 km x 7 km around Wuzhen (1 degree of latitude is about 111 km).
    minx, miny, maxx, maxy = union.bounds
    assert 7.0 < (maxy - miny) * 111.32 < 8.5
    assert 7.5 < (maxx - minx) * 111.32 * 0.8595 < 9.5
    assert union.contains(shapely.Point(120.487, 30.745))


def test_micro_grids_tile_the_pilot_grid_exactly(town: Town) -> None:
    pilot = shape(town.grids[16].geometry)
    micros = _polys(town.micro_grids)
    union = shapely.union_all(micros)
    assert union.geom_type == "Polygon" and len(union.interiors) == 0
    assert union.area == pytest.approx(pilot.area, rel=1e-12)
    assert sum(p.area for p in micros) == pytest.approx(pilot.area, rel=1e-12)
    assert union.symmetric_difference(pilot).area == pytest.approx(0, abs=1e-15)
    _assert_no_overlaps(micros)


def test_neighbours_are_symmetric_and_touching(town: Town) -> None:
    for rows in (town.grids, town.micro_grids):
        by_id = {row.id: row for row in rows}
        for row in rows:
            assert row.id not in row.neighbours
            for other in row.neighbours:
                assert row.id in by_id[other].neighbours
                assert shape(row.geometry).touches(shape(by_id[other].geometry))
    grids = {g.id: g for g in town.grids}
    assert grids["G001"].neighbours == ["G002", "G013", "G014"]  # a corner of the town
    assert len(grids["G017"].neighbours) == 8  # interior cell: edges and corners
    assert len(town.micro_grids[0].neighbours) == 3


def test_stewards(town: Town) -> None:
    stewards = town.stewards
    assert [s.id for s in stewards] == [f"S{n:04d}" for n in range(1, 401)]
    polys = {g.id: shape(g.geometry) for g in town.grids}
    for s in stewards:
        assert polys[s.grid_id].contains(shapely.Point(s.lon, s.lat)), s.id
        assert s.industry in INDUSTRIES
        assert s.skills and set(s.skills) <= set(SKILLS)
        assert s.language in ("zh", "en")
        assert s.duty_state in ("on_duty", "off_duty", "busy")
        assert 1 <= s.capacity <= 3 and s.active_tasks == 0
        assert s.synthetic and s.location_at == s.updated_at == NOW
        assert s.phone.startswith("+86 ")
    assert {s.grid_id for s in stewards} == set(polys)  # every grid has a steward
    duty = Counter(s.duty_state for s in stewards)
    assert 0.6 < duty["on_duty"] / len(stewards) < 0.8
    assert duty["off_duty"] and duty["busy"]
    assert 0.04 < sum(s.language == "en" for s in stewards) / len(stewards) < 0.16
    assert len({s.industry for s in stewards}) == len(INDUSTRIES)


def test_steward_fields_match_the_table() -> None:
    columns = {c.name for c in Steward.__table__.columns}  # type: ignore[attr-defined]
    # A new column must be given a value here on purpose, not left to chance.
    assert set(StewardSeed.__slots__) == columns, set(StewardSeed.__slots__) ^ columns


def test_departments_come_from_the_catalog(town: Town) -> None:
    assert [d.code for d in town.departments] == [d.code for d in default_catalog().departments]


def test_same_seed_same_town_other_seed_other_town(town: Town) -> None:
    again = build_town(seed=17, stewards=400, now=NOW)
    assert [g.model_dump() for g in again.all_grids()] == [g.model_dump() for g in town.all_grids()]
    assert again.stewards == town.stewards
    other = build_town(seed=18, stewards=400, now=NOW)
    assert other.grids[0].geometry != town.grids[0].geometry
    # Geometry does not depend on the number of stewards.
    few = build_town(seed=17, stewards=3, now=NOW)
    assert [g.geometry for g in few.all_grids()] == [g.geometry for g in town.all_grids()]
    assert len(few.stewards) == 3


def test_many_stewards_get_wider_ids() -> None:
    big = build_town(stewards=10_000, now=NOW)
    assert len(big.stewards) == 10_000
    assert big.stewards[0].id == "S00001" and big.stewards[-1].id == "S10000"
    assert len({s.id for s in big.stewards}) == 10_000


def test_export(town: Town, tmp_path: Path) -> None:
    paths = export_town(town, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["departments.json", "grids.geojson", "stewards.json"]
    collection = json.loads((tmp_path / "out" / "grids.geojson").read_text(encoding="utf-8"))
    assert len(collection["features"]) == 198
    assert collection["features"][16]["properties"]["community"]
    stewards = json.loads((tmp_path / "out" / "stewards.json").read_text(encoding="utf-8"))
    assert stewards[0]["id"] == "S0001" and stewards[0]["location_at"] == NOW.isoformat()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[tuple[str, SessionFactory]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await upgrade(url)
    engine = make_engine(url)
    yield url, make_session_factory(engine)
    await engine.dispose()


async def _count(factory: SessionFactory, table: type[Any]) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_load_is_idempotent(sqlite_db: tuple[str, SessionFactory], town: Town) -> None:
    _, factory = sqlite_db
    assert await load_demo_data(factory, town) is True
    assert await load_demo_data(factory, town) is False
    assert await _count(factory, Grid) == 198
    assert await _count(factory, Steward) == 400
    assert await _count(factory, DepartmentRow) == len(town.departments)
    async with factory() as session:
        g017 = await session.get(Grid, "G017")
        s1 = await session.get(Steward, "S0001")
    assert g017 is not None and g017.geometry == town.grids[16].geometry
    assert g017.neighbours == town.grids[16].neighbours
    assert s1 is not None and s1.skills == town.stewards[0].skills and s1.synthetic


def test_cli_migrates_loads_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    args = ["--url", url, "--stewards", "50", "--export", str(tmp_path / "x")]
    assert main(args) == 0
    assert "loaded 108 grids, 90 micro-grids, 50 stewards" in capsys.readouterr().out
    assert main(["--url", url]) == 0
    assert "nothing loaded" in capsys.readouterr().out
    assert (tmp_path / "x" / "grids.geojson").exists()


def test_rejects_negative_stewards() -> None:
    with pytest.raises(ValueError):
        build_town(stewards=-1)


def test_pairwise_disjoint_interiors_brute_force(town: Town) -> None:
    """A slower, tree-free cross-check on one row of grids and the pilot's micro-grids."""
    for polys in (_polys(town.grids[:30]), _polys(town.micro_grids[:30])):
        for a, b in combinations(polys, 2):
            assert a.intersection(b).area == pytest.approx(0, abs=1e-15)
