"""The nearest-steward index must give exactly the brute-force answer, through any churn.

Property-style: seeded random towns (several latitudes, the antimeridian, near a pole), random
queries with skills, exclusions, off-duty and full stewards, and random upserts and removes
in between; every answer is compared with ``brute_force_nearest`` for equality (floats too,
since both measure with the same scalar haversine).
"""

from __future__ import annotations

import math
import random
from typing import NotRequired, TypedDict

import pytest

from services.stewards.index import (
    Candidate,
    StewardIndex,
    StewardPoint,
    brute_force_nearest,
    haversine_km,
)

SKILLS = ("dispute", "traffic", "environment", "hazard", "first_aid", "fire", "elder", "rare")
GRID_KM = 0.8


class Kw(TypedDict):
    """Keyword arguments of ``nearest`` / ``brute_force_nearest``, typed for ``**`` calls."""

    grid_id: str
    neighbour_grids: frozenset[str]
    max_km: float
    skills: NotRequired[frozenset[str]]
    exclude: NotRequired[frozenset[str]]
    k: NotRequired[int]


class Town:
    """A lattice of grids around a centre, with stewards mostly inside their own grid."""

    def __init__(self, rng: random.Random, lat: float, lon: float, cols: int, rows: int) -> None:
        self.rng, self.lat, self.lon, self.cols, self.rows = rng, lat, lon, cols, rows
        self.dlat = GRID_KM / 111.2
        self.dlon = GRID_KM / (111.2 * max(math.cos(math.radians(lat)), 0.05))
        self.points: dict[str, StewardPoint] = {}
        self.serial = 0

    def grid_of(self, c: int, r: int) -> str:
        return f"g{c}-{r}"

    def neighbours(self, grid_id: str) -> frozenset[str]:
        c, r = (int(x) for x in grid_id[1:].split("-"))
        return frozenset(
            self.grid_of(c + dc, r + dr)
            for dc in (-1, 0, 1)
            for dr in (-1, 0, 1)
            if (dc or dr) and 0 <= c + dc < self.cols and 0 <= r + dr < self.rows
        )

    def spot(self, c: float, r: float) -> tuple[float, float]:
        lat = self.lat + (r - self.rows / 2) * self.dlat
        lon = self.lon + (c - self.cols / 2) * self.dlon
        lon = (lon + 180.0) % 360.0 - 180.0  # wrap across the antimeridian
        return max(-90.0, min(90.0, lat)), lon

    def steward(self, sid: str | None = None) -> StewardPoint:
        rng = self.rng
        if sid is None:
            sid, self.serial = f"s{self.serial:05d}", self.serial + 1
        c, r = rng.randrange(self.cols), rng.randrange(self.rows)
        spread = 1.0 if rng.random() < 0.85 else 3.0  # some roam outside their grid
        lat, lon = self.spot(
            c + 0.5 + spread * (rng.random() - 0.5), r + 0.5 + spread * (rng.random() - 0.5)
        )
        if self.points and rng.random() < 0.05:  # identical spots exercise the id tie-break
            twin = rng.choice(list(self.points.values()))
            lat, lon = twin.lat, twin.lon
        skills = frozenset(rng.sample(SKILLS[:-1], rng.randint(0, 3)))
        if rng.random() < 0.03:
            skills |= {"rare"}
        return StewardPoint(
            steward_id=sid,
            lat=lat,
            lon=lon,
            grid_id=self.grid_of(c, r),
            skills=skills,
            on_duty=rng.random() < 0.7,
            free_capacity=rng.choice((0, 1, 1, 2, 3)),
        )

    def populate(self, n: int) -> None:
        for _ in range(n):
            p = self.steward()
            self.points[p.steward_id] = p

    def query(self) -> tuple[float, float, Kw]:
        rng = self.rng
        c, r = rng.randrange(self.cols), rng.randrange(self.rows)
        lat, lon = self.spot(c + rng.random(), r + rng.random())
        grid_id = self.grid_of(c, r) if rng.random() < 0.95 else "elsewhere"
        n_skills = rng.choice((0, 0, 1, 1, 2))
        skills = frozenset(rng.sample(SKILLS, n_skills))
        ids = list(self.points)
        exclude = frozenset(rng.sample(ids, min(len(ids), rng.randint(0, 4))))
        kwargs: Kw = {
            "grid_id": grid_id,
            "neighbour_grids": self.neighbours(grid_id) if grid_id != "elsewhere" else frozenset(),
            "skills": skills,
            "exclude": exclude,
            "max_km": rng.choice((0.3, 1.0, 2.0, 3.0, 5.0, 12.0, 40.0)),
            "k": rng.choice((1, 3, 5, 5, 10, 30)),
        }
        return lat, lon, kwargs


def check(index: StewardIndex, town: Town, queries: int) -> set[int]:
    """Compare ``queries`` random lookups; return the tiers seen, to show it is not vacuous."""
    tiers: set[int] = set()
    for _ in range(queries):
        lat, lon, kw = town.query()
        expected = brute_force_nearest(town.points.values(), lat, lon, **kw)
        got = index.nearest(lat, lon, **kw)
        assert got == expected, (lat, lon, kw)
        tiers.update(c.tier for c in expected)
    return tiers


@pytest.mark.parametrize(
    ("seed", "lat", "lon", "cols", "rows", "n"),
    [
        (1, 30.745, 120.487, 12, 9, 1500),  # Wuzhen
        (2, 30.745, 120.487, 12, 9, 300),  # sparse: rings must reach far
        (3, 0.0, 0.0, 6, 6, 800),
        (4, -45.0, 170.0, 8, 5, 800),
        (5, 64.1, -21.9, 8, 8, 800),  # high latitude: narrow longitude cells
        (6, 12.0, 179.995, 6, 6, 600),  # straddles the antimeridian: exact fallback
        (7, 89.97, 10.0, 4, 4, 400),  # next to the pole: exact fallback
    ],
)
def test_matches_brute_force(
    seed: int, lat: float, lon: float, cols: int, rows: int, n: int
) -> None:
    town = Town(random.Random(seed), lat, lon, cols, rows)
    town.populate(n)
    index = StewardIndex(town.points.values())
    assert len(index) == n
    assert check(index, town, 600) == {0, 1, 2}  # every tier shows up in the answers


def test_matches_brute_force_through_churn() -> None:
    rng = random.Random(11)
    town = Town(rng, 30.745, 120.487, 10, 8)
    town.populate(1000)
    index = StewardIndex(town.points.values())
    for _ in range(40):
        for _ in range(60):
            ids = list(town.points)
            roll = rng.random()
            old = town.points[rng.choice(ids)]
            if roll < 0.4:  # minute ping: a short walk, often across a 0.5 km cell
                step = 0.004 * rng.random()
                new = StewardPoint(
                    old.steward_id,
                    old.lat + rng.uniform(-step, step),
                    old.lon + rng.uniform(-step, step),
                    old.grid_id,
                    old.skills,
                    old.on_duty,
                    old.free_capacity,
                )
            elif roll < 0.55:  # check-in / check-out
                new = StewardPoint(
                    old.steward_id,
                    old.lat,
                    old.lon,
                    old.grid_id,
                    old.skills,
                    not old.on_duty,
                    old.free_capacity,
                )
            elif roll < 0.7:  # took or closed a case
                new = StewardPoint(
                    old.steward_id,
                    old.lat,
                    old.lon,
                    old.grid_id,
                    old.skills,
                    old.on_duty,
                    rng.choice((0, 1, 2)),
                )
            elif roll < 0.85:  # reassigned or relocated: new grid, new cell, new skills
                new = town.steward(old.steward_id)
            elif roll < 0.93:
                del town.points[old.steward_id]
                index.remove(old.steward_id)
                continue
            else:
                new = town.steward()
            town.points[new.steward_id] = new
            index.upsert(new)
        assert len(index) == len(town.points)
        check(index, town, 60)


def test_tier_beats_distance() -> None:
    """A tier-0 steward 2.9 km away outranks a tier-2 steward 0.1 km away."""
    lat, lon = 30.745, 120.487
    dlat = 1 / 111.195
    pts = [
        StewardPoint("far-own", lat + 2.9 * dlat, lon, "own"),
        StewardPoint("mid-nb", lat + 1.5 * dlat, lon, "nb"),
        StewardPoint("near-other", lat + 0.1 * dlat, lon, "other"),
        StewardPoint("beyond", lat + 3.5 * dlat, lon, "own"),
    ]
    kw: Kw = {"grid_id": "own", "neighbour_grids": frozenset({"nb"}), "max_km": 3.0}
    got = StewardIndex(pts).nearest(lat, lon, **kw)
    assert [(c.steward_id, c.tier) for c in got] == [
        ("far-own", 0),
        ("mid-nb", 1),
        ("near-other", 2),
    ]
    assert got == brute_force_nearest(pts, lat, lon, **kw)
    assert got[0].distance_km == pytest.approx(2.9, rel=1e-3)


def ids_near(
    index: StewardIndex,
    lat: float = 30.0,
    *,
    skills: frozenset[str] = frozenset(),
    exclude: frozenset[str] = frozenset(),
    max_km: float = 1.0,
    k: int = 5,
) -> list[str]:
    """Steward ids offered for a case at (lat, 120.0) in grid "g" with no neighbours."""
    found = index.nearest(
        lat, 120.0, grid_id="g", neighbour_grids=frozenset(), skills=skills, exclude=exclude,
        max_km=max_km, k=k,
    )  # fmt: skip
    return [c.steward_id for c in found]


def test_filters_and_tie_break() -> None:
    fire = frozenset({"fire"})
    pts = [
        StewardPoint("b", 30.0, 120.0, "g", skills=frozenset({"fire", "traffic"})),
        StewardPoint("a", 30.0, 120.0, "g", skills=fire),
        StewardPoint("c", 30.0, 120.0, "g", on_duty=False, skills=fire),
        StewardPoint("d", 30.0, 120.0, "g", free_capacity=0, skills=fire),
        StewardPoint("e", 30.0, 120.0, "g"),
    ]
    index = StewardIndex(pts)
    assert ids_near(index) == ["a", "b", "e"]  # same spot: by steward_id; c off duty, d full
    assert ids_near(index, skills=fire) == ["a", "b"]
    both = frozenset({"fire", "traffic"})
    assert ids_near(index, skills=both, exclude=frozenset({"a"})) == ["b"]
    assert ids_near(index, skills=frozenset({"never-seen"})) == []


def test_edge_cases() -> None:
    assert ids_near(StewardIndex(), max_km=5.0) == []
    pts = [StewardPoint(f"s{i}", 30.0 + i * 0.001, 120.0, "g") for i in range(3)]
    index = StewardIndex(pts)
    assert ids_near(index, 31.0, max_km=5.0) == []  # nobody within max_km
    assert ids_near(index, k=50) == ["s0", "s1", "s2"]  # k larger than the matches
    assert ids_near(index, k=0) == []
    assert ids_near(index, max_km=-1.0) == []
    assert ids_near(index, max_km=0.0) == ["s0"]  # max_km is inclusive
    index.remove("s0")
    index.remove("nobody")  # unknown ids are ignored
    index.upsert(pts[1])  # idempotent
    assert len(index) == 2 and "s0" not in index and index.get("s1") == pts[1]
    assert ids_near(index) == ["s1", "s2"]
    with pytest.raises(ValueError):
        StewardPoint("x", 91.0, 0.0, "g")
    with pytest.raises(ValueError):
        ids_near(index, 95.0)
    with pytest.raises(ValueError):
        StewardIndex(cell_km=0.0)


def test_more_skills_than_mask_bits() -> None:
    """Past 63 skills the bit mask collides; the exact subset check must still decide."""
    rng = random.Random(5)
    names = [f"skill{i}" for i in range(150)]
    pts = [
        StewardPoint(
            f"s{i}",
            30 + rng.random() * 0.05,
            120 + rng.random() * 0.05,
            f"g{i % 7}",
            frozenset(rng.sample(names, 3)),
        )
        for i in range(700)
    ]
    index = StewardIndex(pts)
    for _ in range(300):
        kw: Kw = {
            "grid_id": f"g{rng.randrange(7)}",
            "neighbour_grids": frozenset({f"g{rng.randrange(7)}"}),
            "skills": frozenset(rng.sample(names, rng.randint(1, 2))),
            "max_km": 4.0,
            "k": 5,
        }
        lat, lon = 30 + rng.random() * 0.05, 120 + rng.random() * 0.05
        assert index.nearest(lat, lon, **kw) == brute_force_nearest(pts, lat, lon, **kw)


@pytest.mark.parametrize("cell_km", [0.1, 0.5, 2.0, 25.0])
def test_cell_size_does_not_change_answers(cell_km: float) -> None:
    town = Town(random.Random(21), 30.745, 120.487, 8, 6)
    town.populate(600)
    check(StewardIndex(town.points.values(), cell_km=cell_km), town, 200)


def test_haversine_sanity() -> None:
    assert haversine_km(30.0, 120.0, 31.0, 120.0) == pytest.approx(111.195, abs=0.001)
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(111.195, abs=0.001)
    assert haversine_km(30.745, 120.487, 30.745, 120.487) == 0.0
    assert haversine_km(0.0, 179.5, 0.0, -179.5) == pytest.approx(111.195, abs=0.001)
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * 6371.0088)
    # cross-check with the spherical law of cosines (fine away from tiny distances)
    rng = random.Random(3)
    for _ in range(200):
        a, b = rng.uniform(-80, 80), rng.uniform(-179, 179)
        c, d = rng.uniform(-80, 80), rng.uniform(-179, 179)
        p1, p2, dl = math.radians(a), math.radians(c), math.radians(d - b)
        cos_c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
        law = 6371.0088 * math.acos(max(-1.0, min(1.0, cos_c)))
        assert haversine_km(a, b, c, d) == pytest.approx(law, abs=1e-6)
    assert isinstance(Candidate("s", 1.0, "g", 0).tier, int)
