"""Points as phones and map apps in China report them, normalised to WGS-84 at the edge.

Chinese map services do not publish WGS-84: AMap, Tencent Maps, WeCom and DingTalk location
messages use GCJ-02 (the state-mandated offset datum), Baidu uses BD-09 (a further offset
on top of GCJ-02). Around the town the GCJ-02 offset is about 500 m, so a point read in the
wrong system lands in another grid. Every location input therefore says its system
(``crs``), is converted here once, and keeps what the client sent; the rest of the service
(grid placement, nearest-steward search, Open311) only ever sees WGS-84.

The transforms are the published ones (the GCJ-02 offset with Krasovsky's a=6378245.0 and
ee=0.00669342162296594323; BD-09 <-> GCJ-02 with x_pi = pi*3000/180), written once here
rather than taken from PyPI: the packages that carry them (``eviltransform`` 2018,
``prcoords`` and ``coord-convert`` 2019) are unmaintained, and most ship only the one-step
approximate inverse, which is 1-2 m off. The forward transforms are closed formulas; the
inverses solve ``forward(x) = y`` by fixed-point iteration to under 1e-9 degrees
(about 0.1 mm), far inside the 0.5 m the service needs. ``tests/test_coordinates.py`` checks
them against reference pairs published by other implementations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.platform.common import GeoPoint

# Krasovsky 1940 ellipsoid, as the GCJ-02 algorithm uses it.
GCJ_A = 6378245.0
GCJ_EE = 0.00669342162296594323
X_PI = math.pi * 3000.0 / 180.0
# The inverse stops when the forward image is this close to the target (degrees, ~0.1 mm).
INVERSE_TOLERANCE_DEG = 1e-9
INVERSE_MAX_ITERATIONS = 30

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class Crs(StrEnum):
    """The coordinate system a point was read in."""

    WGS84 = "wgs84"  # GPS, Open311, OpenStreetMap, the service's own tables
    GCJ02 = "gcj02"  # AMap/Gaode, Tencent Maps, WeCom, DingTalk, WeChat location messages
    BD09 = "bd09"  # Baidu Maps


def out_of_china(lat: float, lon: float) -> bool:
    """True outside the rough box where GCJ-02 applies (the published implementations' box)."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """The GCJ-02 point (lat, lon) that a Chinese map shows for a WGS-84 point."""
    if out_of_china(lat, lon):
        return lat, lon
    dlat = _offset_lat(lon - 105.0, lat - 35.0)
    dlon = _offset_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - GCJ_EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((GCJ_A * (1 - GCJ_EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (GCJ_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lat + dlat, lon + dlon


def gcj02_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """The BD-09 point (lat, lon) Baidu shows for a GCJ-02 point."""
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def _bd09_to_gcj02_estimate(lat: float, lon: float) -> tuple[float, float]:
    """The published one-step inverse of ``gcj02_to_bd09`` (sub-metre; refined below)."""
    x, y = lon - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * X_PI)
    return z * math.sin(theta), z * math.cos(theta)


# A point transform (lat, lon) -> (lat, lon).
_Transform = Callable[[float, float], tuple[float, float]]


def _invert(
    forward: _Transform, lat: float, lon: float, start: tuple[float, float]
) -> tuple[float, float]:
    """Solve ``forward(p) == (lat, lon)`` from ``start``: both offsets are smooth and small
    (their Jacobian is close to the identity), so ``p -= forward(p) - target`` converges
    geometrically, in 2-4 steps to 1e-9 degrees."""
    plat, plon = start
    for _ in range(INVERSE_MAX_ITERATIONS):
        flat, flon = forward(plat, plon)
        dlat, dlon = flat - lat, flon - lon
        if abs(dlat) < INVERSE_TOLERANCE_DEG and abs(dlon) < INVERSE_TOLERANCE_DEG:
            break
        plat, plon = plat - dlat, plon - dlon
    return plat, plon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """The WGS-84 point whose GCJ-02 image is (lat, lon), to about 0.1 mm."""
    if out_of_china(lat, lon):
        return lat, lon
    return _invert(wgs84_to_gcj02, lat, lon, (lat, lon))


def bd09_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """The GCJ-02 point whose BD-09 image is (lat, lon), to about 0.1 mm."""
    return _invert(gcj02_to_bd09, lat, lon, _bd09_to_gcj02_estimate(lat, lon))


def wgs84_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """The BD-09 point Baidu shows for a WGS-84 point."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))


def bd09_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """The WGS-84 point whose BD-09 image is (lat, lon)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lon))


def to_wgs84(lat: float, lon: float, crs: Crs) -> tuple[float, float]:
    """(lat, lon) read in ``crs``, as WGS-84."""
    if crs is Crs.GCJ02:
        return gcj02_to_wgs84(lat, lon)
    if crs is Crs.BD09:
        return bd09_to_wgs84(lat, lon)
    return lat, lon


def from_wgs84(lat: float, lon: float, crs: Crs) -> tuple[float, float]:
    """A WGS-84 point as a map in ``crs`` would show it (links into AMap or Baidu)."""
    if crs is Crs.GCJ02:
        return wgs84_to_gcj02(lat, lon)
    if crs is Crs.BD09:
        return wgs84_to_bd09(lat, lon)
    return lat, lon


class GeoInput(BaseModel):
    """A point as a client sends it: where, and in which system it was read.

    ``crs`` defaults to ``wgs84`` so existing clients (Open311, devices) keep working.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: Latitude
    lon: Longitude
    # Left out of dumps when WGS-84: a body without it fingerprints as before it existed.
    crs: Crs = Field(default=Crs.WGS84, exclude_if=lambda value: value == Crs.WGS84)

    def wgs84(self) -> tuple[float, float]:
        """This point's (lat, lon) in WGS-84."""
        return to_wgs84(self.lat, self.lon, self.crs)

    def normalised(self) -> GeoPoint:
        """This point in WGS-84, the one ``GeoPoint`` the service computes with (and saves in
        histories); a caller that keeps what the client sent keeps this ``GeoInput`` (as
        ``OpenCaseInput.reported_location`` does)."""
        lat, lon = to_wgs84(self.lat, self.lon, self.crs)
        return GeoPoint(lat=lat, lon=lon)
