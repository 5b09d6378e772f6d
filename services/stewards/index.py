"""Nearest-steward index: which on-duty steward to offer a case at a point, in well under 1 ms.

Ranking: tier (0 the case's grid, 1 a neighbouring grid, 2 any other), then haversine distance,
then steward_id, among available stewards (on duty, free capacity) whose skills cover the case,
within ``max_km``. A far own-grid steward beats a near stranger, so two structures serve it:
per-grid buckets for tiers 0-1 (a grid holds ~40-1000 stewards whatever the town size; a
steward's grid is their assignment, not where they stand), and a uniform ~0.5 km lat/lon cell
hash for tier 2, searched ring by ring only while tiers 0-1 leave fewer than k.

Buckets are slot arrays (numpy rows + a parallel list, swap-remove): a ping, check-in or
check-out is O(1) amortised, and a query filters whole buckets in a few numpy calls. The vector
pass only prefilters (1 mm margin, 52-bit skill mask); survivors get the exact skill check and
the scalar ``services.platform.distance.haversine_km`` that :func:`brute_force_nearest` also
uses, so both agree bit for bit. Caps touching a pole or the antimeridian skip the rings for a full
scan (exact, slower).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from services.platform.distance import EARTH_RADIUS_KM, haversine_km

__all__ = [
    "EARTH_RADIUS_KM",
    "Candidate",
    "StewardIndex",
    "StewardPoint",
    "brute_force_nearest",
    "haversine_km",
]

KM_PER_DEG_LAT = EARTH_RADIUS_KM * math.pi / 180.0
_EPS_KM = 1e-6  # prefilter margin: far above float noise, far below anything that matters
_BATCH = 384  # rows per vector pass in the ring search: amortises numpy call overhead
_MASK_BITS = 52  # masks ride in a float64 column, exact below 2**53
_Hit = tuple[int, float, str, str]  # (tier, km, steward_id, grid_id): sorts in ranking order
_K = TypeVar("_K", str, int)


@dataclass(frozen=True, slots=True)
class StewardPoint:
    """Where a steward is and whether they can take a case right now."""

    steward_id: str
    lat: float
    lon: float
    grid_id: str
    skills: frozenset[str] = frozenset()
    on_duty: bool = True
    free_capacity: int = 1

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"steward {self.steward_id}: bad position {self.lat}, {self.lon}")

    @property
    def available(self) -> bool:
        """Only available stewards live in the spatial buckets; the rest are just remembered."""
        return self.on_duty and self.free_capacity > 0


@dataclass(frozen=True, slots=True)
class Candidate:
    """One steward to offer the case to, best first."""

    steward_id: str
    distance_km: float
    grid_id: str
    tier: int


def _hav(km: float) -> float:
    """The haversine ``h`` of a distance, so vector prefilters can skip the arcsin."""
    return math.sin(min(km, math.pi * EARTH_RADIUS_KM) / (2.0 * EARTH_RADIUS_KM)) ** 2


def _tier(grid_id: str, own: str, neighbours: frozenset[str]) -> int:
    return 0 if grid_id == own else 1 if grid_id in neighbours else 2


def brute_force_nearest(
    points: Iterable[StewardPoint],
    lat: float,
    lon: float,
    *,
    grid_id: str,
    neighbour_grids: frozenset[str],
    skills: frozenset[str] = frozenset(),
    exclude: frozenset[str] = frozenset(),
    max_km: float,
    k: int = 5,
) -> list[Candidate]:
    """Reference answer by scanning every point: the spec, for tests and the bench."""
    hits: list[_Hit] = []
    for p in points:
        if p.available and p.steward_id not in exclude and skills <= p.skills:
            d = haversine_km(lat, lon, p.lat, p.lon)
            if d <= max_km:
                hits.append(
                    (_tier(p.grid_id, grid_id, neighbour_grids), d, p.steward_id, p.grid_id)
                )
    hits.sort()
    return [Candidate(sid, d, g, t) for t, d, sid, g in hits[: max(k, 0)]]


class _Bucket:
    """Slot array of available stewards: numpy rows for vector filters, swap-remove on delete.

    A row is (lat rad, lon rad, cos lat, skill mask as an exact float): one array, so a query
    concatenates one block per bucket; ``rows`` is a cached view of the live rows.
    """

    __slots__ = ("data", "pts", "rows", "slot_of")

    def __init__(self) -> None:
        self.pts: list[StewardPoint] = []
        self.data: npt.NDArray[np.float64] = np.empty((8, 4))
        self.rows = self.data[:0]
        self.slot_of: dict[str, int] = {}

    def put(self, p: StewardPoint, row: tuple[float, float, float, float]) -> None:
        slot = self.slot_of.get(p.steward_id)
        if slot is None:
            slot = len(self.pts)
            if slot == len(self.data):  # double: amortised O(1) appends
                self.data = np.concatenate([self.data, np.empty_like(self.data)])
            self.pts.append(p)
            self.slot_of[p.steward_id] = slot
            self.rows = self.data[: slot + 1]
        else:
            self.pts[slot] = p
        self.data[slot] = row

    def discard(self, steward_id: str) -> None:
        slot = self.slot_of.pop(steward_id)
        last = len(self.pts) - 1
        if slot != last:
            moved = self.pts[slot] = self.pts[last]
            self.data[slot] = self.data[last]
            self.slot_of[moved.steward_id] = slot
        self.pts.pop()
        self.rows = self.data[:last]


@dataclass(slots=True)
class _Query:
    lat: float
    lon: float
    grid_id: str
    neighbours: frozenset[str]
    skills: frozenset[str]
    exclude: frozenset[str]
    max_km: float
    k: int
    req: int = 0  # skill mask
    lat_r: float = 0.0
    lon_r: float = 0.0
    cos: float = 1.0
    h_max: float = 0.0

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"bad case position {self.lat}, {self.lon}")
        self.lat_r, self.lon_r = math.radians(self.lat), math.radians(self.lon)
        self.cos, self.h_max = math.cos(self.lat_r), _hav(self.max_km + _EPS_KM)


class StewardIndex:
    """Mutable index of steward positions answering :meth:`nearest` (see module docstring).

    Not thread-safe: one owner (say, the assignment worker's process) applies the updates and
    runs the lookups, which are plain CPU work of well under a millisecond.
    """

    def __init__(self, points: Iterable[StewardPoint] = (), *, cell_km: float = 0.5) -> None:
        if not 0.01 <= cell_km <= 100.0:  # keeps ring offsets far from wrapping a whole row
            raise ValueError(f"cell_km must be within 0.01..100, not {cell_km}")
        self._n_lat = max(1, round(180.0 * KM_PER_DEG_LAT / cell_km))
        self._dlat = 180.0 / self._n_lat  # cells are dlat x dlat degrees, dividing the globe
        self._n_lon = max(1, round(360.0 / self._dlat))
        self._dlon = 360.0 / self._n_lon
        self._points: dict[str, StewardPoint] = {}
        self._grids: dict[str, _Bucket] = {}
        self._cells: dict[int, _Bucket] = {}
        self._cell_of: dict[str, int] = {}
        self._skill_bits: dict[str, int] = {}
        self._rings: list[list[int]] = []
        for p in points:
            self.upsert(p)

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, steward_id: object) -> bool:
        return steward_id in self._points

    def get(self, steward_id: str) -> StewardPoint | None:
        return self._points.get(steward_id)

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        i = min(int((lat + 90.0) // self._dlat), self._n_lat - 1)
        return i, int((lon + 180.0) // self._dlon) % self._n_lon

    def _mask(self, skills: frozenset[str]) -> int:
        mask = 0
        for s in skills:
            bit = self._skill_bits.get(s)
            if bit is None:
                bit = self._skill_bits[s] = len(self._skill_bits) % _MASK_BITS
            mask |= 1 << bit
        return mask

    def upsert(self, point: StewardPoint) -> None:
        """Insert or replace a steward: O(1) amortised, in place when grid and cell are kept."""
        sid = point.steward_id
        old = self._points.get(sid)
        self._points[sid] = point
        if old and old.available and (not point.available or old.grid_id != point.grid_id):
            self._unlink(old)
        if not point.available:
            return
        i, j = self._cell(point.lat, point.lon)
        key = i * self._n_lon + j
        old_key = self._cell_of.get(sid)
        if old_key is not None and old_key != key:
            self._drop(self._cells, old_key, sid)
        self._cell_of[sid] = key
        lat_r = math.radians(point.lat)
        row = (lat_r, math.radians(point.lon), math.cos(lat_r), float(self._mask(point.skills)))
        self._grids.setdefault(point.grid_id, _Bucket()).put(point, row)
        self._cells.setdefault(key, _Bucket()).put(point, row)

    def remove(self, steward_id: str) -> None:
        """Forget a steward (no error if unknown: check-outs and deletes may race)."""
        old = self._points.pop(steward_id, None)
        if old is not None and old.available:
            self._unlink(old)

    def _unlink(self, old: StewardPoint) -> None:
        self._drop(self._grids, old.grid_id, old.steward_id)
        self._drop(self._cells, self._cell_of.pop(old.steward_id), old.steward_id)

    @staticmethod
    def _drop(buckets: dict[_K, _Bucket], key: _K, sid: str) -> None:
        bucket = buckets[key]
        bucket.discard(sid)
        if not bucket.pts:  # empty buckets go, so memory follows the steward count
            del buckets[key]

    def nearest(
        self,
        lat: float,
        lon: float,
        *,
        grid_id: str,
        neighbour_grids: frozenset[str],
        skills: frozenset[str] = frozenset(),
        exclude: frozenset[str] = frozenset(),
        max_km: float,
        k: int = 5,
    ) -> list[Candidate]:
        """Best ``k`` candidates by (tier, distance, steward_id); same answer as brute force."""
        if k <= 0 or not max_km >= 0.0 or any(s not in self._skill_bits for s in skills):
            return []  # (a skill never seen: nobody has it)
        q = _Query(lat, lon, grid_id, neighbour_grids, skills, exclude, max_km, k)
        q.req = self._mask(skills)
        hits: list[_Hit] = []
        own = self._grids.get(grid_id)
        near = [(0.0, own)] if own else []
        near += [(2.0, b) for g in neighbour_grids if g != grid_id and (b := self._grids.get(g))]
        if near:
            self._scan(q, [b for _, b in near], [t for t, _ in near], hits)
        if len(hits) < k:
            self._search_others(q, hits)
        hits.sort()  # only trimmed runs are kept sorted along the way
        return [Candidate(sid, d, g, t) for t, d, sid, g in hits]

    def _scan(
        self, q: _Query, buckets: list[_Bucket], offsets: list[float], hits: list[_Hit]
    ) -> None:
        """Merge the buckets' qualifying stewards into ``hits`` (sorted and k long once full).

        Vector pass: skill mask, then haversine ``h`` within max_km, ordered by key = 2*tier + h
        (``offsets`` holds 2*tier per bucket; h <= 1, so tier dominates). The Python pass walks
        that order with the exact checks and stops once a key passes the k-th hit's key.
        """
        rows = buckets[0].rows if len(buckets) == 1 else np.concatenate([b.rows for b in buckets])
        idx = None
        if q.req:  # skills first: a rare skill leaves few rows for the trigonometry
            idx = np.flatnonzero((rows[:, 3].astype(np.int64) & q.req) == q.req)
            rows = rows[idx]
        h = np.sin((rows[:, 0] - q.lat_r) * 0.5) ** 2
        h += q.cos * rows[:, 2] * np.sin((rows[:, 1] - q.lon_r) * 0.5) ** 2
        near = np.flatnonzero(h <= q.h_max)
        if not len(near):
            return
        keys, idx = h[near], near if idx is None else idx[near]
        sizes = [len(b.pts) for b in buckets]
        starts = list(accumulate(sizes[:-1], initial=0))
        if offsets.count(offsets[0]) == len(offsets):
            keys += offsets[0]
        else:
            keys += np.repeat(offsets, sizes)[idx]
        order = np.argsort(keys, kind="stable")
        cutoff = self._cutoff(hits, q.k)
        for key, ix in zip(keys[order].tolist(), idx[order].tolist(), strict=True):
            if key > cutoff:
                break
            at = bisect_right(starts, ix) - 1
            p = buckets[at].pts[ix - starts[at]]
            if p.steward_id in q.exclude or not q.skills <= p.skills:
                continue
            tier = _tier(p.grid_id, q.grid_id, q.neighbours)
            if tier != int(key) >> 1:
                continue  # an own/neighbour-grid steward met again in the cell rings
            d = haversine_km(q.lat, q.lon, p.lat, p.lon)
            if d <= q.max_km:
                hits.append((tier, d, p.steward_id, p.grid_id))
                if len(hits) >= q.k:
                    hits.sort()
                    del hits[q.k :]
                    cutoff = self._cutoff(hits, q.k)

    @staticmethod
    def _cutoff(hits: list[_Hit], k: int) -> float:
        if len(hits) < k:
            return math.inf
        return 2.0 * hits[-1][0] + _hav(hits[-1][1] + _EPS_KM)

    def _search_others(self, q: _Query, hits: list[_Hit]) -> None:
        """Tier 2: cell rings outward until a ring's lower bound passes the k-th hit/max_km.

        Rings are gathered until they hold ~_BATCH rows, then scanned in one vector pass, so
        numpy overhead is paid per batch, not per cell. Ring cells outside the cap's box are
        harmless (the distance filter is exact), and so is bounding against slightly stale
        hits: it can only search more, never less. Ring r's bound: its cells are r rows away
        (|dlat| >= gap, so d >= R*gap) or r columns away, where by the haversine sum
        hav(d) >= cos(lat_q) * cos_min * hav(dlon), cos_min being the box's smallest cos(lat).
        """
        box = self._box(q)
        if box is None or (box[1] - box[0] + 1) * (box[3] - box[2] + 1) > 4 * len(self._cells):
            # the cap touches a pole or the antimeridian, or is huge: one exact full scan
            if cells := list(self._cells.values()):
                self._scan(q, cells, [4.0], hits)
            return
        i_lo, i_hi, j_lo, j_hi, cos_min = box
        i0, j0 = self._cell(q.lat, q.lon)
        base, get, dlat, dlon = i0 * self._n_lon + j0, self._cells.get, self._dlat, self._dlon
        pending: list[_Bucket] = []
        rows, r = 0, 0
        while True:
            if r > 0:
                if rows >= _BATCH:
                    self._scan(q, pending, [4.0], hits)
                    pending, rows = [], 0
                if i0 - r < i_lo and i0 + r > i_hi and j0 - r < j_lo and j0 + r > j_hi:
                    break
                gap_lat = min(q.lat + 90.0 - (i0 - r + 1) * dlat, (i0 + r) * dlat - 90.0 - q.lat)
                gap_lon = min(q.lon + 180.0 - (j0 - r + 1) * dlon, (j0 + r) * dlon - 180.0 - q.lon)
                h = q.cos * cos_min * math.sin(math.radians(gap_lon) / 2) ** 2
                by_lon = 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(h, 1.0)))
                bound = min(EARTH_RADIUS_KM * math.radians(gap_lat), by_lon) - _EPS_KM
                if bound > (hits[-1][1] if len(hits) >= q.k else q.max_km):
                    break
            while len(self._rings) <= r:  # cell-key offsets of ring r, cached
                n, span = len(self._rings), range(-len(self._rings), len(self._rings) + 1)
                self._rings.append(
                    [i * self._n_lon + j for i in span for j in span if max(abs(i), abs(j)) == n]
                )
            found = [b for off in self._rings[r] if (b := get(base + off)) is not None]
            pending += found
            rows += sum([len(b.pts) for b in found])
            r += 1
        if pending:
            self._scan(q, pending, [4.0], hits)

    def _box(self, q: _Query) -> tuple[int, int, int, int, float] | None:
        """Cell-index rectangle holding the whole max_km cap, and min cos(lat) inside it."""
        ang = (q.max_km + _EPS_KM) / EARTH_RADIUS_KM
        lat_lo, lat_hi = q.lat - math.degrees(ang), q.lat + math.degrees(ang)
        if lat_lo <= -90.0 or lat_hi >= 90.0 or (s := math.sin(ang) / q.cos) >= 1.0:
            return None
        half = math.degrees(math.asin(s))  # widest longitude offset of a spherical cap
        if q.lon - half < -180.0 or q.lon + half >= 180.0:
            return None
        i_lo, j_lo = self._cell(lat_lo, q.lon - half)
        i_hi, j_hi = self._cell(lat_hi, q.lon + half)
        return i_lo, i_hi, j_lo, j_hi, min(math.cos(math.radians(x)) for x in (lat_lo, lat_hi))
