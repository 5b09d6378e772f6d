"""Per-town tuning of the catalog: an override file and a time scale.

Why: a demo or test town must be able to shorten the limits (nobody waits ten minutes to see
an accept timer fire in ``make run``), and a real town may differ from the shipped catalog
in a few numbers without forking ``schemas/data/catalog.json``. Both stay data, validated at
load like the catalog itself, and both end up in the ``CasePolicy`` snapshot of each new case
(its ``catalog_version`` says ``+override`` / ``+x60``), so a running case never changes.

* ``GRIDPLUS_CATALOG_OVERRIDE=path``: a JSON file, partial per case type::

      {"case_types": {"illegal_parking": {"sla": {"accept": "PT2M"}, "priority": 2}},
       "escalation": {"max_dispatch_attempts": 2}}

  Only the fields named change; an unknown case type or field, or a value the catalog would
  refuse (a zero deadline, priority 9), fails the load with the path of the offending key.
* ``GRIDPLUS_CATALOG_TIME_SCALE=N`` (``make run ARGS="--fast-clock 60"`` sets it for the API
  and the worker): every deadline of every case type is divided by N, 1 <= N <= 1000, and
  never below one second. Applied after the override.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.cases.catalog import CaseType, Catalog, Escalation, Sla

MIN_SCALE = 1.0
MAX_SCALE = 1000.0
SHORTEST_LIMIT = timedelta(seconds=1)


class CatalogOverrideError(ValueError):
    """An override file or a time scale the catalog cannot take; the message says where."""


class CatalogOverride(BaseModel):
    """The file's top level: only these two keys, each partial."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_types: dict[str, dict[str, Any]] = {}
    escalation: dict[str, Any] = {}


def _check_keys(where: str, given: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise CatalogOverrideError(f"{where}: unknown field(s) {', '.join(unknown)}")


def apply_override(catalog: Catalog, override: CatalogOverride) -> Catalog:
    """The catalog with the override's fields replaced, validated as a whole again."""
    known = {t.code: t for t in catalog.case_types}
    for code, fields in override.case_types.items():
        if code not in known:
            raise CatalogOverrideError(f"case_types.{code}: no such case type in the catalog")
        _check_keys(f"case_types.{code}", fields, set(CaseType.model_fields) - {"code"})
        if "sla" in fields:
            if not isinstance(fields["sla"], dict):
                raise CatalogOverrideError(f"case_types.{code}.sla: must be an object")
            _check_keys(f"case_types.{code}.sla", fields["sla"], set(Sla.model_fields))
    _check_keys("escalation", override.escalation, set(Escalation.model_fields))
    data = catalog.model_dump(mode="json")
    for entry in data["case_types"]:
        fields = dict(override.case_types.get(entry["code"], {}))
        entry["sla"] |= fields.pop("sla", {})
        entry |= fields
    data["escalation"] |= override.escalation
    data["version"] = f"{catalog.version}+override"
    try:
        return Catalog.model_validate(data)
    except ValidationError as error:
        raise CatalogOverrideError(f"the overridden catalog is invalid: {error}") from error


def load_override(path: Path) -> CatalogOverride:
    """Read and check an override file; every problem is a ``CatalogOverrideError``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return CatalogOverride.model_validate(raw)
    except (OSError, json.JSONDecodeError, ValidationError) as error:
        raise CatalogOverrideError(f"catalog override {path}: {error}") from error


def _scaled(limit: timedelta, scale: float) -> timedelta:
    seconds = math.floor(limit.total_seconds() / scale)
    return max(timedelta(seconds=seconds), SHORTEST_LIMIT)


def check_scale(scale: float) -> float:
    """The scale if it is within bounds, else a ``CatalogOverrideError`` saying them."""
    if not (math.isfinite(scale) and MIN_SCALE <= scale <= MAX_SCALE):
        raise CatalogOverrideError(
            f"catalog time scale must be within {MIN_SCALE:g}..{MAX_SCALE:g}, not {scale:g}"
        )
    return scale


def scale_limits(catalog: Catalog, scale: float) -> Catalog:
    """Every case type's deadlines divided by ``scale`` (whole seconds, at least one)."""
    check_scale(scale)
    if scale == 1:
        return catalog
    case_types = []
    for case_type in catalog.case_types:
        limits = {name: _scaled(getattr(case_type.sla, name), scale) for name in Sla.model_fields}
        case_types.append(case_type.model_copy(update={"sla": Sla(**limits)}))
    return catalog.model_copy(
        update={"case_types": tuple(case_types), "version": f"{catalog.version}+x{scale:g}"}
    )


def tune(catalog: Catalog, override: Path | None, scale: float) -> Catalog:
    """The override (if any), then the time scale: what ``configured_catalog`` serves."""
    if override is not None:
        catalog = apply_override(catalog, load_override(override))
    return scale_limits(catalog, scale)
