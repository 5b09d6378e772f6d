"""What the supervisor board shows besides the evaluation: load per grid, top overdue cases,
and the town's grids projected to SVG.

All of it is read from the projection and the grid registry, never from Temporal: the page
must stay cheap to reload all day on a wall screen, and one slow workflow query must not
stall it. The map is plain SVG built here (no tiles, no CDN, no JavaScript), so the page
works on the linkage center's offline network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.cases.tables import CaseRecord
from schemas.cases.views import CaseSummary
from services.cases.queries import summary_of
from services.platform.geo import GridIndex
from services.supervision.evaluation import ENDED, RECORDS

MAP_WIDTH = 720.0
MAP_MARGIN = 6.0


@dataclass(frozen=True)
class GridLoad:
    """Open, overdue and suspended (缓办: their clock stopped) cases of one grid right now."""

    open: int = 0
    overdue: int = 0
    suspended: int = 0


@dataclass(frozen=True)
class MapGrid:
    """One grid as an SVG path, with its label position and its load."""

    id: str
    name: str
    path: str
    label_x: float
    label_y: float
    load: GridLoad
    fill: str


@dataclass(frozen=True)
class TownMap:
    """The SVG canvas and every top-level grid on it."""

    width: float
    height: float
    grids: list[MapGrid]


async def grid_loads(session: AsyncSession) -> dict[str, GridLoad]:
    """Open, overdue and suspended case counts per grid, in one grouped query."""
    r = RECORDS.c
    statement = (
        select(
            r.grid_id,
            func.count(),
            func.sum(case((r.overdue.is_(True), 1), else_=0)),
            func.sum(case((r.status == "suspended", 1), else_=0)),
        )
        .where(r.status.not_in(ENDED))
        .group_by(r.grid_id)
    )
    return {
        grid_id: GridLoad(open=int(n), overdue=int(overdue or 0), suspended=int(held or 0))
        for grid_id, n, overdue, held in await session.execute(statement)
    }


async def top_overdue(session: AsyncSession, limit: int = 20) -> list[CaseSummary]:
    """Open cases past a deadline: the most urged first, then the oldest."""
    rows = (
        await session.execute(
            select(CaseRecord)
            .where(col(CaseRecord.overdue).is_(True), col(CaseRecord.status).not_in(ENDED))
            .order_by(
                col(CaseRecord.urge_count).desc(),
                col(CaseRecord.reported_at),
                col(CaseRecord.case_id),
            )
            .limit(limit)
        )
    ).scalars()
    return [summary_of(row) for row in rows]


def fill_for(load: GridLoad) -> str:
    """Red by overdue count, amber by open count, pale green when the grid is quiet."""
    if load.overdue >= 3:
        return "#b2182b"
    if load.overdue == 2:
        return "#d6604d"
    if load.overdue == 1:
        return "#f4a582"
    if load.open >= 5:
        return "#fdae61"
    if load.open >= 1:
        return "#fee08b"
    return "#e5f5e0"


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    """Outer rings of a GeoJSON Polygon or MultiPolygon (holes are not drawn)."""
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"][0]]
    if geometry["type"] == "MultiPolygon":
        return [polygon[0] for polygon in geometry["coordinates"]]
    raise ValueError(f"unsupported geometry {geometry['type']!r}")


def town_map(grids: GridIndex, loads: dict[str, GridLoad]) -> TownMap:
    """Project the grid polygons to SVG coordinates.

    An equirectangular projection scaled by cos(latitude) at the town's centre: over a few
    kilometres it keeps shapes and areas true to within a fraction of a percent, and needs
    no projection library. North is up; y grows downwards as SVG wants.
    """
    rows = [row for grid_id in grids.grid_ids if (row := grids.grid(grid_id)) is not None]
    rings = {row.id: _rings(row.geometry) for row in rows}
    lons = [p[0] for parts in rings.values() for ring in parts for p in ring]
    lats = [p[1] for parts in rings.values() for ring in parts for p in ring]
    if not lons:
        return TownMap(width=MAP_WIDTH, height=MAP_WIDTH / 2, grids=[])
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    shrink = math.cos(math.radians((min_lat + max_lat) / 2))
    scale = (MAP_WIDTH - 2 * MAP_MARGIN) / max((max_lon - min_lon) * shrink, 1e-9)
    height = (max_lat - min_lat) * scale + 2 * MAP_MARGIN

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (
            round((lon - min_lon) * shrink * scale + MAP_MARGIN, 1),
            round((max_lat - lat) * scale + MAP_MARGIN, 1),
        )

    out = []
    for row in rows:
        parts = []
        for ring in rings[row.id]:
            points = [xy(lon, lat) for lon, lat, *_ in ring]
            parts.append("M" + " L".join(f"{x},{y}" for x, y in points) + " Z")
        label_x, label_y = xy(row.centroid_lon, row.centroid_lat)
        load = loads.get(row.id, GridLoad())
        out.append(
            MapGrid(
                id=row.id,
                name=row.name,
                path=" ".join(parts),
                label_x=label_x,
                label_y=label_y,
                load=load,
                fill=fill_for(load),
            )
        )
    return TownMap(width=MAP_WIDTH, height=round(height, 1), grids=out)
