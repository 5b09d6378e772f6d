"""GCJ-02 / BD-09 <-> WGS-84 (``schemas.platform.coordinates``) against published reference pairs.

Sources of the reference pairs (numbers, not code):

* wandergis/coordtransform, the JavaScript library most Chinese code copies (its README's
  examples, reproduced in hutool's ``CoordinateUtilTest`` and in the Rust port
  ``coordtransform-rs``'s tests): the point (lon 116.404, lat 39.915) through every transform.
* googollee/eviltransform, ``python/test.py`` ``TESTS``: WGS-84 -> GCJ-02 in Shanghai,
  Shenzhen and Beijing.

Forward transforms are closed formulas, so they must agree to 1e-9 degrees. The published
inverses are one-step approximations (1-2 m off); ours iterate, so they are compared within
the approximation's error, and their own accuracy is checked by the round-trip property.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.platform.common import GeoPoint
from schemas.platform.coordinates import (
    Crs,
    GeoInput,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from services.platform.distance import haversine_km
from services.platform.geo import GridIndex
from tools.demo_data import build_town


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return haversine_km(a[0], a[1], b[0], b[1]) * 1000


# (lat, lon) pairs; the sources give them as (lon, lat).
WANDERGIS_IN = (39.915, 116.404)
WANDERGIS_FORWARD = [
    (wgs84_to_gcj02, (39.91640428150164, 116.41024449916938)),
    (gcj02_to_bd09, (39.92133699351021, 116.41036949371029)),
    (wgs84_to_bd09, (39.922699552216216, 116.41662724378733)),
]
WANDERGIS_INVERSE = [
    (gcj02_to_wgs84, (39.91359571849836, 116.39775550083061)),
    (bd09_to_gcj02, (39.90865673957631, 116.39762729119315)),
    (bd09_to_wgs84, (39.907253214522164, 116.3913836995125)),
]
EVILTRANSFORM_WGS_GCJ = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing
]

# The town and its surroundings, generously.
lats = st.floats(min_value=29.5, max_value=32.0)
lons = st.floats(min_value=119.0, max_value=122.0)


@pytest.mark.parametrize(("transform", "expected"), WANDERGIS_FORWARD)
def test_forward_transforms_match_published_values(transform, expected) -> None:  # type: ignore[no-untyped-def]
    got = transform(*WANDERGIS_IN)
    assert got == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_gcj02_to_wgs84_recovers_the_published_wgs_point(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    """The iterative inverse lands on the published WGS point (eviltransform's own bar for
    its exact inverse is 0.5 m; ours is a millimetre)."""
    assert metres(gcj02_to_wgs84(*gcj), wgs) < 0.001


@pytest.mark.parametrize(("transform", "approx"), WANDERGIS_INVERSE)
def test_inverse_transforms_agree_with_the_published_approximations(  # type: ignore[no-untyped-def]
    transform, approx
) -> None:
    """Within the published one-step inverse's known error (it is 1-2 m off at most)."""
    assert metres(transform(*WANDERGIS_IN), approx) < 2.0


@settings(max_examples=300, deadline=None)
@given(lat=lats, lon=lons)
def test_round_trips_stay_under_half_a_metre_around_the_town(lat: float, lon: float) -> None:
    for crs in (Crs.GCJ02, Crs.BD09):
        there = from_wgs84(lat, lon, crs)
        back = to_wgs84(*there, crs)
        assert metres(back, (lat, lon)) < 0.5, crs
    gcj = (lat, lon)
    assert metres(wgs84_to_gcj02(*gcj02_to_wgs84(*gcj)), gcj) < 0.5
    bd = (lat, lon)
    assert metres(gcj02_to_bd09(*bd09_to_gcj02(*bd)), bd) < 0.5


@settings(max_examples=300, deadline=None)
@given(lat=lats, lon=lons)
def test_a_point_read_in_the_wrong_system_is_hundreds_of_metres_off(lat: float, lon: float) -> None:
    """Why ``crs`` matters: the grids of the town are a few hundred metres across."""
    assert 300 < metres(wgs84_to_gcj02(lat, lon), (lat, lon)) < 800
    assert 700 < metres(wgs84_to_bd09(lat, lon), (lat, lon)) < 1500


def test_outside_china_gcj02_is_wgs84() -> None:
    """The published transforms leave points outside China alone (the offset applies only
    inside); a client that says gcj02 in Paris gets its point back."""
    assert wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522)
    assert gcj02_to_wgs84(48.8566, 2.3522) == (48.8566, 2.3522)


def test_geo_input_normalises_to_the_one_wgs84_geo_point() -> None:
    """``normalised`` gives the ``GeoPoint`` that cases carry and histories hold: the same
    class, the same JSON (``lat``, ``lon``), so saved histories replay."""
    wgs = (30.7452, 120.4871)
    gcj = wgs84_to_gcj02(*wgs)
    point = GeoInput(lat=gcj[0], lon=gcj[1], crs=Crs.GCJ02).normalised()
    assert type(point) is GeoPoint
    assert metres((point.lat, point.lon), wgs) < 0.01
    assert set(point.model_dump(mode="json")) == {"lat", "lon"}

    plain = GeoInput.model_validate({"lat": 30.7452, "lon": 120.4871}).normalised()
    assert plain == GeoPoint(lat=30.7452, lon=120.4871)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"lat": 30.7, "lon": 120.4, "crs": "cgcs2000"}, "crs"),
        ({"lat": 91, "lon": 120.4}, "lat"),
        ({"lat": 30.7, "lon": float("nan")}, "lon"),
        ({"lat": 30.7, "lon": 120.4, "datum": "gcj02"}, "datum"),
    ],
)
def test_geo_input_refuses_bad_input_naming_the_field(
    payload: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        GeoInput.model_validate(payload)
    assert caught.value.errors()[0]["loc"] == (field,)


@pytest.fixture(scope="module")
def town() -> GridIndex:
    return GridIndex(build_town().all_grids())


def test_in_the_demo_town_a_wrong_system_moves_most_points_to_another_grid(
    town: GridIndex,
) -> None:
    """A GCJ-02 reading taken as WGS-84 is placed in the wrong grid for most of the town,
    and the same reading declared ``gcj02`` is placed where the steward stood."""
    rng = random.Random(16)
    west, south, east, north = 120.444, 30.712, 120.530, 30.778  # the demo town's bounds
    placed = moved = 0
    while placed < 300:
        lat, lon = rng.uniform(south, north), rng.uniform(west, east)
        truth = town.locate(lat, lon)
        if truth is None:
            continue
        placed += 1
        gcj_lat, gcj_lon = wgs84_to_gcj02(lat, lon)
        naive = town.locate(gcj_lat, gcj_lon)
        moved += naive is None or naive.grid_id != truth.grid_id
        point = GeoInput(lat=gcj_lat, lon=gcj_lon, crs=Crs.GCJ02).normalised()
        assert town.locate(point.lat, point.lon) == truth
    assert moved / placed > 0.5
