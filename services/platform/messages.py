"""User-facing text: every bot and department message comes from a Jinja2 template.

Stewards read Chinese or English (their registry entry says which); departments get
Chinese, the working language of the town's offices.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from schemas.cases.catalog import default_catalog
from schemas.platform.common import GeoPoint

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
LANGUAGES = ("zh", "en")
TOWN_TZ = timezone(timedelta(hours=8), "CST")


@lru_cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text chat messages, never HTML
        keep_trailing_newline=False,
    )


def map_url(point: GeoPoint) -> str:
    """A map link that needs no tiles of ours: the steward's phone opens its own map app."""
    return f"geo:{point.lat:.6f},{point.lon:.6f}"


def case_type_name(code: str, language: str) -> str:
    case_type = default_catalog().case_type(code)
    if case_type is None:
        return code
    return case_type.name_en if language == "en" else case_type.name_zh


def render_steward(kind: str, language: str, context: dict[str, Any]) -> str:
    language = language if language in LANGUAGES else "zh"
    template = environment().get_template(f"bot/{language}/{kind}.j2")
    return template.render(**context).strip()


def render_department(kind: str, context: dict[str, Any]) -> str:
    return environment().get_template(f"department/{kind}.j2").render(**context).strip()
