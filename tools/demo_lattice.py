"""Geometry of the synthetic town: a jittered lattice whose cells tile the town exactly.

Why a lattice with *shared* vertices: if every cell computed its own corners, rounding
would leave slivers of gap or overlap between neighbours, and a report on a street that
falls in a sliver would find no grid. Here each lattice vertex is computed once and every
cell that touches it reuses the very same coordinates, so neighbouring polygons share
their edges bit for bit and the grids tile the town with no gap and no overlap.

The pilot community's cell is cut again into a finer lattice of micro-grids. Its edges are
stored *densified* (with the micro-grids' boundary vertices on them) and the neighbouring
grids reuse those densified edges, so the micro-grids tile the pilot grid exactly too.
Only the standard library is used here: the checks with shapely live in the tests.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]  # (lon, lat), the GeoJSON order
Ring = list[Point]

METRES_PER_DEGREE_LAT = 111_320.0
DIGITS = 7  # about 1 cm: finer than any GPS fix, coarse enough to read


@dataclass(frozen=True)
class LatticeSpec:
    """Where the lattice sits and how it is cut."""

    centre_lat: float
    centre_lon: float
    width_m: float
    height_m: float
    cols: int
    rows: int
    jitter: float = 0.25  # fraction of a cell; < 0.5 keeps every cell a simple polygon


def degrees_per_metre(lat: float) -> tuple[float, float]:
    """(degrees of longitude, degrees of latitude) per metre at ``lat``."""
    dlat = 1.0 / METRES_PER_DEGREE_LAT
    return dlat / math.cos(math.radians(lat)), dlat


def _pt(lon: float, lat: float) -> Point:
    return (round(lon, DIGITS), round(lat, DIGITS))


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _bilinear(nw: Point, ne: Point, sw: Point, se: Point, u: float, v: float) -> Point:
    """Point at (u east, v south) in the quad; u, v in [0, 1]."""
    north = _lerp(nw, ne, u)
    south = _lerp(sw, se, u)
    lon, lat = _lerp(north, south, v)
    return _pt(lon, lat)


def _join(*parts: list[Point]) -> Ring:
    """Concatenate edge point lists that meet end to start, and close the ring."""
    ring: Ring = []
    for part in parts:
        ring.extend(part if not ring else part[1:])
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    return ring


class Lattice:
    """Vertices ``(r, c)`` with r = 0 on the north edge and c = 0 on the west edge.

    ``hpts[(r, c)]`` is the edge from vertex (r, c) to (r, c + 1), listed west to east;
    ``vpts[(r, c)]`` the edge from (r, c) to (r + 1, c), listed north to south. An edge is
    just its two end vertices unless it has been densified.
    """

    def __init__(self, spec: LatticeSpec, rng: random.Random) -> None:
        self.spec = spec
        deg_lon, deg_lat = degrees_per_metre(spec.centre_lat)
        cell_lon = spec.width_m * deg_lon / spec.cols
        cell_lat = spec.height_m * deg_lat / spec.rows
        west = spec.centre_lon - spec.width_m * deg_lon / 2
        north = spec.centre_lat + spec.height_m * deg_lat / 2
        j = spec.jitter
        self.vertices: dict[tuple[int, int], Point] = {}
        for r in range(spec.rows + 1):
            for c in range(spec.cols + 1):
                du = rng.uniform(-j, j)
                dv = rng.uniform(-j, j)
                self.vertices[(r, c)] = _pt(west + (c + du) * cell_lon, north - (r + dv) * cell_lat)
        self.hpts: dict[tuple[int, int], list[Point]] = {
            (r, c): [self.vertices[(r, c)], self.vertices[(r, c + 1)]]
            for r in range(spec.rows + 1)
            for c in range(spec.cols)
        }
        self.vpts: dict[tuple[int, int], list[Point]] = {
            (r, c): [self.vertices[(r, c)], self.vertices[(r + 1, c)]]
            for r in range(spec.rows)
            for c in range(spec.cols + 1)
        }

    def corners(self, i: int, j: int) -> tuple[Point, Point, Point, Point]:
        """(north-west, north-east, south-west, south-east) corners of cell (i, j)."""
        v = self.vertices
        return v[(i, j)], v[(i, j + 1)], v[(i + 1, j)], v[(i + 1, j + 1)]

    def cell_ring(self, i: int, j: int) -> Ring:
        """Counter-clockwise exterior ring of cell (i, j) (RFC 7946 orientation)."""
        south = self.hpts[(i + 1, j)]  # west -> east
        east = list(reversed(self.vpts[(i, j + 1)]))  # south -> north
        north = list(reversed(self.hpts[(i, j)]))  # east -> west
        west = self.vpts[(i, j)]  # north -> south
        return _join(south, east, north, west)

    def subdivide(
        self, i: int, j: int, cols: int, rows: int, rng: random.Random, jitter: float = 0.2
    ) -> list[Ring]:
        """Cut cell (i, j) into ``rows x cols`` sub-cells, row-major from the north-west.

        The sub-lattice is the bilinear image of a jittered unit grid; its boundary
        vertices are written into the cell's four edges, which the neighbouring cells
        share, so the sub-cells tile the cell exactly and the town stays gap free.
        """
        nw, ne, sw, se = self.corners(i, j)
        sub: dict[tuple[int, int], Point] = {}
        for a in range(rows + 1):
            for b in range(cols + 1):
                u, v = b / cols, a / rows
                if 0 < a < rows and 0 < b < cols:
                    u += rng.uniform(-jitter, jitter) / cols
                    v += rng.uniform(-jitter, jitter) / rows
                sub[(a, b)] = _bilinear(nw, ne, sw, se, u, v)
        sub[(0, 0)], sub[(0, cols)], sub[(rows, 0)], sub[(rows, cols)] = nw, ne, sw, se
        self.hpts[(i, j)] = [sub[(0, b)] for b in range(cols + 1)]
        self.hpts[(i + 1, j)] = [sub[(rows, b)] for b in range(cols + 1)]
        self.vpts[(i, j)] = [sub[(a, 0)] for a in range(rows + 1)]
        self.vpts[(i, j + 1)] = [sub[(a, cols)] for a in range(rows + 1)]
        rings: list[Ring] = []
        for a in range(rows):
            for b in range(cols):
                sw, se, ne, nw_ = sub[a + 1, b], sub[a + 1, b + 1], sub[a, b + 1], sub[a, b]
                rings.append([sw, se, ne, nw_, sw])
        return rings


def polygon(ring: Ring) -> dict[str, Any]:
    """A GeoJSON Polygon (lists, not tuples, so it round-trips through JSON unchanged)."""
    return {"type": "Polygon", "coordinates": [[[lon, lat] for lon, lat in ring]]}
