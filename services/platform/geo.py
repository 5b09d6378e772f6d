"""Point-in-polygon lookup: which grid and micro-grid a reported location falls in.

Every report is filed under a grid, so this runs once per report and must be fast and
unambiguous. Polygons go into a shapely 2 ``STRtree`` (bounding-box candidates in
O(log n)) and are *prepared*, so the exact test on the few candidates is a cheap
``intersects_xy``; a lookup takes microseconds and needs no database round trip.

Boundaries: a point exactly on an edge shared by two grids (or on a corner shared by
four) belongs to all of them geometrically; we pick the candidate with the smallest id,
so the same point always files under the same grid, whatever the order rows were loaded
in. Points outside every grid give ``None``: the caller decides (reject, or ask a human).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from sqlalchemy import select

from schemas.platform.tables import Grid
from services.platform.db import SessionFactory

GRID_LEVEL = "grid"
MICRO_LEVEL = "micro"

SEEN_POINTS = 50_000  # points remembered by ``GridIndex.locate`` (a few MiB at most)


@dataclass(frozen=True, slots=True)
class GridHit:
    """Where a point is: its grid, and its micro-grid inside a pilot community."""

    grid_id: str
    micro_grid_id: str | None = None


class _Layer:
    """One level of polygons (grids, or micro-grids) behind an STRtree, ids sorted."""

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        items = sorted(items, key=lambda item: item[0])  # index order == id order
        self.ids = [grid_id for grid_id, _ in items]
        self.geoms = np.array([geom for _, geom in items], dtype=object)
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)

    def candidates(self, point: shapely.Point) -> list[int]:
        """Indices, in id order, of polygons that contain the point or have it on their edge."""
        hits = self.tree.query(point)
        if len(hits) == 0:
            return []
        hits = np.sort(hits)
        x, y = point.x, point.y
        inside = shapely.intersects_xy(self.geoms[hits], x, y)
        return [int(i) for i in hits[inside]]


class GridIndex:
    """Grids and micro-grids of a town, ready for ``locate``; immutable once built."""

    def __init__(self, grids: Iterable[Grid]) -> None:
        rows = list(grids)
        self._rows = {row.id: row for row in rows}
        if len(self._rows) != len(rows):
            raise ValueError("duplicate grid id")
        self._grids = _Layer([(r.id, shape(r.geometry)) for r in rows if r.level == GRID_LEVEL])
        micro = [r for r in rows if r.level == MICRO_LEVEL]
        for row in micro:
            if row.parent_id not in self._rows:
                raise ValueError(f"micro-grid {row.id}: unknown parent {row.parent_id!r}")
        self._micro = _Layer([(r.id, shape(r.geometry)) for r in micro])
        self._parent = {r.id: r.parent_id for r in micro}
        self._has_micro = {r.parent_id for r in micro}
        # Points asked again (a fixed camera's every detection is at its mount) answered from
        # memory: the index's query was ~5 % of the API's CPU at camera rates. Bounded; the
        # index never changes once built (a new grid layer is a new ``GridIndex``).
        self._seen: dict[tuple[float, float], GridHit | None] = {}

    def locate(self, lat: float, lon: float) -> GridHit | None:
        """The grid (and micro-grid, inside a pilot community) at a WGS 84 point, or None."""
        key = (lat, lon)
        if key in self._seen:
            return self._seen[key]
        if len(self._seen) >= SEEN_POINTS:
            self._seen.clear()
        hit = self._seen[key] = self._locate(lat, lon)
        return hit

    def _locate(self, lat: float, lon: float) -> GridHit | None:
        point = shapely.Point(lon, lat)
        found = self._grids.candidates(point)
        if not found:
            return None
        grid_id = self._grids.ids[found[0]]
        if grid_id not in self._has_micro:
            return GridHit(grid_id)
        for index in self._micro.candidates(point):
            micro_id = self._micro.ids[index]
            if self._parent[micro_id] == grid_id:
                return GridHit(grid_id, micro_id)
        return GridHit(grid_id)

    def grid(self, grid_id: str) -> Grid | None:
        """The row a grid or micro-grid was built from (centroid, neighbours, name...)."""
        return self._rows.get(grid_id)

    def neighbours(self, grid_id: str) -> list[str]:
        """Ids of the grids that touch this one; empty for an unknown id."""
        row = self._rows.get(grid_id)
        return list(row.neighbours) if row else []

    @property
    def grid_ids(self) -> list[str]:
        """Top-level grid ids, sorted."""
        return list(self._grids.ids)

    @property
    def micro_grid_ids(self) -> list[str]:
        """Micro-grid ids, sorted."""
        return list(self._micro.ids)

    def __len__(self) -> int:
        return len(self._grids.ids)


async def load_grid_index(session_factory: SessionFactory) -> GridIndex:
    """Read every grid and micro-grid from the database and index them."""
    async with session_factory() as session:
        rows = (await session.scalars(select(Grid))).all()
    return GridIndex(rows)
