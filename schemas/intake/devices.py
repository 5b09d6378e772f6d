"""What machines may report and how each report maps to a case type, plus their bodies.

The mapping (camera detection type -> case type, sensor type -> case type) is data
(``schemas/data/intake.json``), checked against the case-type catalog when it is loaded:
a typo there must stop the service at start-up, not strand a smoke alarm at run time.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.cases.catalog import Catalog, default_catalog
from schemas.platform.common import URL_PATTERN, AwareDatetime, Identifier, Line, Text
from schemas.platform.coordinates import GeoInput

INTAKE_FILE = Path(__file__).parents[1] / "data" / "intake.json"

Code = Annotated[str, Field(pattern=r"^[a-z_]{2,40}$")]
DeviceKind = Literal["camera", "sensor"]
# Device-side ids of a report: short enough that "dev:<device>:<event>" fits an update id.
EventId = Annotated[str, Field(min_length=4, max_length=48, pattern=r"^[A-Za-z0-9_.:-]+$")]
HttpUrl = Annotated[str, Field(max_length=2048, pattern=URL_PATTERN)]
# Mainland plates (浙F·12345, 浙AD12345) and plain latin ones; no spaces, no markup.
Plate = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[0-9A-Za-z\u4e00-\u9fff·-]+$")]


class DetectionRule(BaseModel):
    """How one camera detection type becomes a case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_type: Code
    merge_by_plate: bool = Field(
        default=False,
        description="two vehicles are two violations (red light), not one scene (parking)",
    )


class SensorRule(BaseModel):
    """How one sensor type's alarm becomes a case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_type: Code


class IntakeMap(BaseModel):
    """The whole mapping; ``check`` ties it to a catalog."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    camera_detections: dict[Code, DetectionRule]
    sensor_types: dict[Code, SensorRule]

    @model_validator(mode="after")
    def _not_empty(self) -> IntakeMap:
        if not self.camera_detections or not self.sensor_types:
            raise ValueError("the intake map needs camera detections and sensor types")
        return self

    def check(self, catalog: Catalog) -> IntakeMap:
        """Every case type named here must exist in the catalog."""
        rules: list[tuple[str, str]] = [
            *((f"camera_detections.{k}", r.case_type) for k, r in self.camera_detections.items()),
            *((f"sensor_types.{k}", r.case_type) for k, r in self.sensor_types.items()),
        ]
        for where, code in rules:
            if catalog.case_type(code) is None:
                raise ValueError(f"{where}: unknown case type {code!r}")
        return self


def load_intake_map(path: Path = INTAKE_FILE, catalog: Catalog | None = None) -> IntakeMap:
    """Read, validate and check a mapping file against the catalog."""
    mapping = IntakeMap.model_validate(json.loads(path.read_text(encoding="utf-8")))
    return mapping.check(catalog or default_catalog())


@lru_cache
def default_intake_map() -> IntakeMap:
    """The mapping shipped with the service, loaded once per process."""
    return load_intake_map()


# ---- request and response bodies of /devices ----------------------------------------
class CameraDetection(BaseModel):
    """What an AI edge camera saw. The camera is the path's device: never a body field."""

    model_config = ConfigDict(extra="forbid")

    event_id: EventId | None = Field(
        default=None, description="the camera's own id of this detection; a retry repeats it"
    )
    detection_type: Annotated[Line, Field(min_length=2, max_length=40)]
    confidence: float = Field(ge=0, le=1)
    detected_at: AwareDatetime
    location: GeoInput | None = Field(
        default=None,
        description="where the object is, with its crs (wgs84 by default, gcj02, bd09); "
        "defaults to where the camera is mounted",
    )
    snapshot_url: HttpUrl
    plate: Plate | None = None


class SensorEvent(BaseModel):
    """An IoT sensor's alarm, or its return to normal. The sensor type comes from the registry."""

    model_config = ConfigDict(extra="forbid")

    event_id: EventId | None = None
    event: Literal["alarm", "recovery"]
    occurred_at: AwareDatetime
    value: float | None = Field(default=None, allow_inf_nan=False)
    unit: Annotated[str, Field(max_length=16, pattern=r"^[A-Za-z%/°0-9.]+$")] | None = None
    note: Annotated[Text, Field(max_length=500)] | None = None


ReportOutcome = Literal[
    "opened", "merged", "recorded", "below_threshold", "recovered", "no_open_case"
]


class ReportAccepted(BaseModel):
    """Answer to a device's report (HTTP 202): what it did, and to which case."""

    event_id: str
    outcome: ReportOutcome
    case_id: Identifier | None
    merged: bool = Field(description="true when the report joined a case another report opened")
    case_type: str
    received_at: datetime
