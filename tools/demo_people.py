"""SYNTHETIC stewards for the demo town: invented names, invented phone numbers.

Kept apart from ``tools.demo_data`` so the people and the geometry can change separately.
Stewards are plain frozen dataclasses rather than ``Steward`` ORM objects: building
100,000 SQLModel instances takes seconds, a dataclass a fraction of that, and
``dataclasses.asdict`` gives exactly the dict a bulk insert wants.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely

from schemas.stewards.tables import Steward

SKILLS = ("traffic", "city_appearance", "mediation", "safety", "fire_safety")

# industry -> (share of stewards, skills the job makes likely)
INDUSTRIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "taxi": (0.12, ("traffic",)),
    "hotel": (0.15, ("fire_safety", "safety")),
    "shop": (0.20, ("city_appearance", "safety")),
    "restaurant": (0.13, ("fire_safety", "city_appearance")),
    "resident": (0.20, ("mediation", "city_appearance")),
    "security": (0.08, ("safety", "fire_safety", "traffic")),
    "cleaning": (0.05, ("city_appearance",)),
    "retiree": (0.07, ("mediation",)),
}
DUTY_STATES = (("on_duty", 0.7), ("off_duty", 0.2), ("busy", 0.1))
CAPACITIES = ((1, 0.3), (2, 0.5), (3, 0.2))
ENGLISH_SHARE = 0.1
PILOT_WEIGHT = 3.0

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林沈钱姚顾陆蒋施费俞潘褚丁"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国玉兰志红文斌晓宁慧雪梅峰"


@dataclass(frozen=True, slots=True)
class StewardSeed:
    """One steward row; field names are the ``steward`` table's columns."""

    id: str
    name: str
    phone: str
    grid_id: str
    industry: str
    skills: list[str]
    language: str
    duty_state: str
    capacity: int
    active_tasks: int
    lat: float
    lon: float
    location_at: datetime
    updated_at: datetime
    # no presence event yet: the first check-in or check-out of the steward sets it
    duty_changed_at: datetime | None = None
    synthetic: bool = True

    def row(self) -> Steward:
        """The same steward as an ORM row (slow in bulk; fine for a few)."""
        return Steward(**self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def _pick(rng: random.Random, choices: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([c for c, _ in choices], [w for _, w in choices])[0]


def _name(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given


def _skills(rng: random.Random, industry: str) -> list[str]:
    likely = INDUSTRIES[industry][1]
    chosen = {rng.choice(likely)}
    for skill in SKILLS:
        if rng.random() < 0.2:
            chosen.add(skill)
    return [s for s in SKILLS if s in chosen]


def _points_in(rng: random.Random, poly: shapely.Polygon, count: int) -> list[tuple[float, float]]:
    """``count`` (lon, lat) points strictly inside ``poly``, by rejection in its bbox."""
    minx, miny, maxx, maxy = poly.bounds
    shapely.prepare(poly)
    found: list[tuple[float, float]] = []
    while len(found) < count:
        need = 2 * (count - len(found)) + 8
        xs = [round(rng.uniform(minx, maxx), 6) for _ in range(need)]
        ys = [round(rng.uniform(miny, maxy), 6) for _ in range(need)]
        inside = shapely.contains_xy(poly, xs, ys)
        found.extend((x, y) for x, y, ok in zip(xs, ys, inside, strict=True) if ok)
    return found[:count]


def make_stewards(
    rng: random.Random,
    count: int,
    grid_polygons: dict[str, shapely.Polygon],
    pilot_grid_id: str,
    now: datetime,
) -> list[StewardSeed]:
    """``count`` stewards, ids ``S0001``.. in grid order; every grid gets one first."""
    grid_ids = sorted(grid_polygons)
    weights = [PILOT_WEIGHT if g == pilot_grid_id else 1.0 for g in grid_ids]
    assigned = grid_ids[:count] + rng.choices(grid_ids, weights, k=max(0, count - len(grid_ids)))
    per_grid: dict[str, int] = {}
    for grid_id in assigned:
        per_grid[grid_id] = per_grid.get(grid_id, 0) + 1
    width = max(4, len(str(count)))
    industries = tuple((name, share) for name, (share, _) in INDUSTRIES.items())
    stewards: list[StewardSeed] = []
    for grid_id in grid_ids:
        for lon, lat in _points_in(rng, grid_polygons[grid_id], per_grid.get(grid_id, 0)):
            number = len(stewards) + 1
            industry = _pick(rng, industries)
            stewards.append(
                StewardSeed(
                    id=f"S{number:0{width}d}",
                    name=_name(rng),
                    phone=f"+86 19{rng.randrange(10)} {number // 10000:04d} {number % 10000:04d}",
                    grid_id=grid_id,
                    industry=industry,
                    skills=_skills(rng, industry),
                    language="en" if rng.random() < ENGLISH_SHARE else "zh",
                    duty_state=_pick(rng, DUTY_STATES),
                    capacity=_pick(rng, CAPACITIES),
                    active_tasks=0,
                    lat=lat,
                    lon=lon,
                    location_at=now,
                    updated_at=now,
                )
            )
    return stewards
