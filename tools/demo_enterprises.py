"""SYNTHETIC enterprises and inspectors for the demo town (joint safety inspection).

Nothing here is real: invented company names, people and phone numbers, placed inside the
grids of ``tools.demo_data.build_town``. The town has the *shape* of the real one: 494
manufacturers (textiles, dyeing, chemicals, furniture...) clustered in a few industrial
grids, about one in six flagged for hazardous chemicals, high risk first among chemical
plants; about 60 multi-skilled inspectors, most qualified for all five departments (一员多能),
some for four. Rows are marked ``synthetic=True``. Deterministic: same seed, same rows.

Usage: ``python -m tools.demo_enterprises [--url URL] [--enterprises N] [--inspectors N]``;
from code, ``load_demo_enterprises(session_factory)`` (the devstack calls it).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

import shapely
from sqlalchemy import func, select
from sqlmodel import col

from schemas.inspections.checklists import EnterpriseIn, InspectorIn, default_checklists
from schemas.inspections.tables import Enterprise
from services.inspections.registry import upsert_enterprises, upsert_inspectors
from services.platform.db import SessionFactory, make_engine, make_session_factory
from tools.demo_data import Town, build_town

ENTERPRISES = 494
INSPECTORS = 60
INDUSTRIAL_GRIDS = 24
INDUSTRIAL_WEIGHT = 8.0
TRAINEE_SHARE = 0.15

# industry -> (share, name word, chance of the hazardous-chemical flag)
INDUSTRIES: dict[str, tuple[float, str, float]] = {
    "textile": (0.22, "纺织", 0.05),
    "printing_dyeing": (0.08, "印染", 0.6),
    "chemical": (0.08, "化工", 1.0),
    "machinery": (0.14, "机械", 0.05),
    "electronics": (0.08, "电子", 0.15),
    "furniture": (0.12, "家具", 0.1),
    "food": (0.06, "食品", 0.02),
    "building_materials": (0.07, "建材", 0.05),
    "plastics": (0.07, "塑业", 0.2),
    "metal_processing": (0.06, "金属制品", 0.25),
    "paper": (0.02, "纸业", 0.1),
}
BRANDS = "恒瑞华鑫金宏达丰泰新盛隆源嘉禾永昌中兴天成宏远锦绣东方明珠运河水乡"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林沈钱姚顾陆蒋施费俞潘褚丁"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国玉兰志红文斌晓宁慧雪梅峰"


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _point_in(rng: random.Random, poly: shapely.Polygon) -> tuple[float, float]:
    minx, miny, maxx, maxy = poly.bounds
    while True:
        lon, lat = round(rng.uniform(minx, maxx), 6), round(rng.uniform(miny, maxy), 6)
        if poly.contains(shapely.Point(lon, lat)):
            return lat, lon


def _risk(rng: random.Random, industry: str, hazchem: bool) -> str:
    weights = (0.6, 0.3, 0.1) if industry == "chemical" or hazchem else (0.08, 0.35, 0.57)
    return rng.choices(("high", "medium", "low"), weights)[0]


def build_enterprises(town: Town, count: int = ENTERPRISES, seed: int = 17) -> list[EnterpriseIn]:
    """``count`` enterprises ``E0001``.., clustered in the town's industrial grids."""
    rng = random.Random(f"{seed}:enterprises")
    grids = sorted(town.grids, key=lambda g: g.id)
    industrial = set(rng.sample([g.id for g in grids], min(INDUSTRIAL_GRIDS, len(grids))))
    weights = [INDUSTRIAL_WEIGHT if g.id in industrial else 1.0 for g in grids]
    polygons = {g.id: shapely.Polygon(g.geometry["coordinates"][0]) for g in grids}
    names = list(INDUSTRIES)
    shares = [INDUSTRIES[n][0] for n in names]
    rows = []
    for number in range(1, count + 1):
        grid = rng.choices(grids, weights)[0]
        industry = rng.choices(names, shares)[0]
        _, word, hazchem_share = INDUSTRIES[industry]
        hazchem = rng.random() < hazchem_share
        lat, lon = _point_in(rng, polygons[grid.id])
        brand = "".join(rng.sample(BRANDS, 2))
        rows.append(
            EnterpriseIn(
                id=f"E{number:04d}",
                name=f"桐乡市{brand}{word}有限公司（演示）",
                grid_id=grid.id,
                lat=lat,
                lon=lon,
                industry=industry,
                risk_level=_risk(rng, industry, hazchem),
                hazardous_chemicals=hazchem,
                contact_name=_name(rng),
                contact_phone=f"+86 199 {number // 10000:04d} {number % 10000:04d}",
                synthetic=True,
            )
        )
    return rows


def build_inspectors(
    town: Town,
    enterprises: list[EnterpriseIn],
    count: int = INSPECTORS,
    seed: int = 17,
    trainee_share: float = TRAINEE_SHARE,
) -> list[InspectorIn]:
    """``count`` inspectors ``IR001``.., homed where the enterprises are densest.

    A ``trainee_share`` of them is not yet qualified for one department: they cannot take a
    joint visit whose form needs it.
    """
    rng = random.Random(f"{seed}:inspectors")
    per_grid: dict[str, int] = {}
    for e in enterprises:
        per_grid[e.grid_id] = per_grid.get(e.grid_id, 0) + 1
    busiest = sorted(per_grid, key=lambda g: (-per_grid[g], g)) or [g.id for g in town.grids]
    departments = list(default_checklists().departments)
    rows = []
    for number in range(1, count + 1):
        qualified = list(departments)
        if rng.random() < trainee_share:  # still in training for one department
            qualified.remove(rng.choice(departments[1:]))
        rows.append(
            InspectorIn(
                id=f"IR{number:03d}",
                name=_name(rng),
                phone=f"+86 198 {number // 10000:04d} {number % 10000:04d}",
                grid_id=busiest[(number - 1) % len(busiest)],
                qualifications=qualified,
                synthetic=True,
            )
        )
    return rows


async def load_demo_enterprises(
    session_factory: SessionFactory,
    town: Town | None = None,
    *,
    enterprises: int = ENTERPRISES,
    inspectors: int = INSPECTORS,
    seed: int = 17,
    trainee_share: float = TRAINEE_SHARE,
) -> bool:
    """Insert the demo enterprises and inspectors unless synthetic enterprises exist.

    Returns True if it loaded, False if it did nothing (safe to call at every start).
    """
    async with session_factory() as session:
        present = await session.scalar(
            select(func.count()).select_from(Enterprise).where(col(Enterprise.synthetic))
        )
    if present:
        return False
    town = town or build_town(seed=seed, stewards=0)
    companies = build_enterprises(town, enterprises, seed)
    await upsert_enterprises(session_factory, companies)
    crew = build_inspectors(town, companies, inspectors, seed, trainee_share)
    await upsert_inspectors(session_factory, crew)
    return True


async def _run(args: argparse.Namespace) -> int:
    from services.platform.migrate import upgrade
    from settings import get_settings

    url: str = args.url or get_settings().database_url
    await upgrade(url)
    engine = make_engine(url)
    try:
        loaded = await load_demo_enterprises(
            make_session_factory(engine),
            enterprises=args.enterprises,
            inspectors=args.inspectors,
            seed=args.seed,
        )
    finally:
        await engine.dispose()
    print("loaded demo enterprises" if loaded else "demo enterprises already present")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load SYNTHETIC enterprises and inspectors.")
    parser.add_argument("--url", help="database URL (default: GRIDPLUS_DATABASE_URL)")
    parser.add_argument("--enterprises", type=int, default=ENTERPRISES)
    parser.add_argument("--inspectors", type=int, default=INSPECTORS)
    parser.add_argument("--seed", type=int, default=17)
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
