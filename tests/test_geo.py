"""Point-in-polygon lookup: every grid finds itself, borders resolve one way, outside is None."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape

from schemas.platform.tables import Grid
from services.platform.db import SessionFactory, make_engine, make_session_factory
from services.platform.geo import GridHit, GridIndex, load_grid_index
from services.platform.migrate import upgrade
from tools.demo_data import Town, build_town, load_demo_data

NOW = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def town() -> Town:
    return build_town(seed=17, stewards=400, now=NOW)


@pytest.fixture(scope="module")
def index(town: Town) -> GridIndex:
    return GridIndex(town.all_grids())


def _brute_force(town: Town, lat: float, lon: float) -> GridHit | None:
    """The rule spelled out without a tree: smallest id among polygons covering the point."""
    point = shapely.Point(lon, lat)
    grids = [g.id for g in town.grids if shape(g.geometry).intersects(point)]
    if not grids:
        return None
    micros = [
        m.id
        for m in town.micro_grids
        if m.parent_id == min(grids) and shape(m.geometry).intersects(point)
    ]
    return GridHit(min(grids), min(micros) if micros else None)


def test_every_grid_finds_its_own_centroid_and_representative_point(
    town: Town, index: GridIndex
) -> None:
    for grid in town.grids:
        rep = shape(grid.geometry).representative_point()
        for lat, lon in ((grid.centroid_lat, grid.centroid_lon), (rep.y, rep.x)):
            hit = index.locate(lat, lon)
            assert hit is not None and hit.grid_id == grid.id
            assert (hit.micro_grid_id is not None) == (grid.id == town.pilot_grid_id)


def test_every_micro_grid_finds_itself(town: Town, index: GridIndex) -> None:
    for micro in town.micro_grids:
        rep = shape(micro.geometry).representative_point()
        assert index.locate(rep.y, rep.x) == GridHit("G017", micro.id)
        assert index.locate(micro.centroid_lat, micro.centroid_lon) == GridHit("G017", micro.id)


def test_points_outside_the_town(index: GridIndex) -> None:
    assert index.locate(0.0, 0.0) is None
    assert index.locate(30.745, 120.3) is None  # about 18 km west
    assert index.locate(30.9, 120.487) is None  # about 17 km north


def test_stewards_locate_to_their_grid(town: Town, index: GridIndex) -> None:
    for steward in town.stewards:
        hit = index.locate(steward.lat, steward.lon)
        assert hit is not None and hit.grid_id == steward.grid_id, steward.id


def test_shared_corner_and_edges_resolve_to_the_smallest_id(town: Town) -> None:
    grids = {g.id: g.geometry["coordinates"][0] for g in town.grids}
    corner = set(map(tuple, grids["G001"])) & set(map(tuple, grids["G014"]))
    (lon, lat) = corner.pop()  # the lattice vertex shared by G001, G002, G013 and G014
    # Vertices the pilot shares with a neighbour lie exactly on both polygons.
    west = (
        (set(map(tuple, grids["G016"])) & set(map(tuple, grids["G017"])))
        - set(map(tuple, grids["G004"]))
        - set(map(tuple, grids["G028"]))
    )
    east = (
        (set(map(tuple, grids["G017"])) & set(map(tuple, grids["G018"])))
        - set(map(tuple, grids["G005"]))
        - set(map(tuple, grids["G029"]))
    )
    assert len(west) == 8 and len(east) == 8  # the densified edges between the corners
    forward = GridIndex(town.all_grids())
    backward = GridIndex(list(reversed(town.all_grids())))
    for idx in (forward, backward):
        assert idx.locate(lat, lon) == GridHit("G001")
        for wlon, wlat in west:
            assert idx.locate(wlat, wlon) == GridHit("G016")
        for elon, elat in east:
            hit = idx.locate(elat, elon)
            assert hit is not None and hit.grid_id == "G017" and hit.micro_grid_id
            assert hit == _brute_force(town, elat, elon)


def test_random_points_agree_with_brute_force(town: Town, index: GridIndex) -> None:
    rng = random.Random(5)
    minx, miny, maxx, maxy = shapely.union_all([shape(g.geometry) for g in town.grids]).bounds
    pilot = shape(town.grids[16].geometry).bounds
    points = [
        (rng.uniform(miny - 0.01, maxy + 0.01), rng.uniform(minx - 0.01, maxx + 0.01))
        for _ in range(300)
    ]
    points += [
        (rng.uniform(pilot[1], pilot[3]), rng.uniform(pilot[0], pilot[2])) for _ in range(200)
    ]
    outside = 0
    for lat, lon in points:
        expected = _brute_force(town, lat, lon)
        outside += expected is None
        assert index.locate(lat, lon) == expected, (lat, lon)
    assert 0 < outside < len(points) / 2


def test_locate_takes_microseconds(town: Town, index: GridIndex) -> None:
    rng = random.Random(9)
    points = [(rng.uniform(30.71, 30.78), rng.uniform(120.44, 120.53)) for _ in range(5000)]
    start = time.perf_counter()
    for lat, lon in points:
        index.locate(lat, lon)
    per_call = (time.perf_counter() - start) / len(points)
    assert per_call < 200e-6  # about 10 us on a 2-core CI box; loose to avoid flakiness


def test_index_accessors(town: Town, index: GridIndex) -> None:
    assert len(index) == 108
    assert index.grid_ids[0] == "G001" and index.micro_grid_ids[-1] == "M090"
    assert index.neighbours("G001") == ["G002", "G013", "G014"]
    assert index.neighbours("nope") == []
    grid = index.grid("G017")
    assert grid is not None and grid.community


def test_rejects_inconsistent_rows(town: Town) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        GridIndex([town.grids[0], town.grids[0]])
    orphan = Grid.model_validate(town.micro_grids[0].model_dump() | {"parent_id": "G999"})
    with pytest.raises(ValueError, match="unknown parent"):
        GridIndex([*town.grids, orphan])


def test_grids_without_micro_grids(town: Town) -> None:
    index = GridIndex(town.grids)
    pilot = town.grids[16]
    assert index.locate(pilot.centroid_lat, pilot.centroid_lon) == GridHit("G017")
    assert index.micro_grid_ids == []


@pytest.fixture
async def factory(tmp_path: Path) -> AsyncIterator[SessionFactory]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'geo.db'}"
    await upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    await engine.dispose()


async def test_load_grid_index_from_the_database(factory: SessionFactory, town: Town) -> None:
    assert await load_demo_data(factory, town)
    index = await load_grid_index(factory)
    assert len(index) == 108 and len(index.micro_grid_ids) == 90
    for steward in town.stewards[:50]:
        hit = index.locate(steward.lat, steward.lon)
        assert hit is not None and hit.grid_id == steward.grid_id
    micro = town.micro_grids[44]
    assert index.locate(micro.centroid_lat, micro.centroid_lon) == GridHit("G017", micro.id)
