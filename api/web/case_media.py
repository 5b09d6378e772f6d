"""What the case page shows besides words: the case's photos and its place on the map.

Photos: every attachment id cited in the timeline's evidence, as a thumbnail through a
short-lived signed link (``Library.link``, the links ``GET /attachments/{id}`` gives) and
a link to the full picture: the original (with its EXIF time and GPS) for the center only,
the stripped public copy for anyone else, as ``services.attachments.signing.variant_for``
rules. The page checked ``may_read`` before any link is minted.

Map: the grid's outline (shapely geometry from the grid index) and the case's point, drawn
as inline SVG on the server: no script, no tiles, nothing fetched from outside (the pages'
Content-Security-Policy forbids both). An equirectangular projection scaled by cos(lat) is
exact enough at a grid's few hundred metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shapely.geometry import MultiPolygon, Polygon, shape

from schemas.cases.views import CaseView
from services.attachments.library import Library
from services.attachments.signing import Variant
from services.platform.geo import GridIndex

SIZE = 320.0  # the drawing's longer side, in SVG units
MARGIN = 12.0


@dataclass(frozen=True)
class Photo:
    """One picture of the case: a thumbnail and the full picture this user may open."""

    id: str
    thumb: str | None  # None for a video (no thumbnail is made)
    full: str


@dataclass(frozen=True)
class MapDrawing:
    """An SVG drawing: outline rings as ``points`` strings, the case's point, the size."""

    width: float
    height: float
    rings: list[str]
    x: float
    y: float


async def photos(library: Library, view: CaseView, role: str) -> list[Photo]:
    """The case's uploads, in timeline order, each once, with fresh signed links."""
    ids = list(
        dict.fromkeys(
            item.attachment_id
            for entry in view.timeline
            for item in entry.evidence
            if item.attachment_id
        )
    )
    rows = await library.rows(ids)
    out: list[Photo] = []
    for attachment_id in ids:
        row = rows.get(attachment_id)
        if row is None:
            continue
        still = not row.kind.startswith("video/")
        thumb = library.link(attachment_id, role, Variant.THUMB) if still else None
        out.append(Photo(attachment_id, thumb, library.link(attachment_id, role, Variant.ORIGINAL)))
    return out


def map_drawing(grids: GridIndex, grid_id: str, lat: float, lon: float) -> MapDrawing | None:
    """The grid's outline with the point, fitted into ``SIZE`` (None for an unknown grid)."""
    row = grids.grid(grid_id)
    if row is None:
        return None
    geometry = shape(row.geometry)
    polygons = list(geometry.geoms) if isinstance(geometry, MultiPolygon) else [geometry]
    rings = [list(p.exterior.coords) for p in polygons if isinstance(p, Polygon)]
    if not rings:
        return None
    xs = [x for ring in rings for x, _ in ring] + [lon]
    ys = [y for ring in rings for _, y in ring] + [lat]
    k = math.cos(math.radians((min(ys) + max(ys)) / 2))
    span_x = max((max(xs) - min(xs)) * k, 1e-9)
    span_y = max(max(ys) - min(ys), 1e-9)
    scale = (SIZE - 2 * MARGIN) / max(span_x, span_y)
    width, height = span_x * scale + 2 * MARGIN, span_y * scale + 2 * MARGIN

    def at(x: float, y: float) -> tuple[float, float]:
        return MARGIN + (x - min(xs)) * k * scale, MARGIN + (max(ys) - y) * scale

    def points(ring: list[tuple[float, ...]]) -> str:
        return " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(c[0], c[1]) for c in ring))

    x, y = at(lon, lat)
    return MapDrawing(round(width, 1), round(height, 1), [points(r) for r in rings], x, y)
