"""Camera detections and sensor events: validate strictly, record every one, merge into cases.

Routes stay thin: they authenticate the device and hand the parsed body here. Every report
is checked (known type, timestamps no more than 5 minutes ahead and no older than a day,
a location the camera can actually see and inside the town) before anything is written, so
a bad report is a 4xx that names the field and leaves no trace. A good one is recorded in
``detection`` (keyed by device and event id, so a retried post is answered from there) and
merged into a case through ``services.intake.merge``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select
from sqlmodel import col
from temporalio.client import Client

from schemas.cases.api import CreateCase
from schemas.cases.catalog import CaseType, Catalog
from schemas.cases.workflow import AddEvidence, OpenCaseInput
from schemas.intake.devices import CameraDetection, IntakeMap, ReportAccepted, ReportOutcome
from schemas.intake.tables import Detection, Device
from schemas.platform.common import Actor, CaseSource, Evidence, GeoPoint
from schemas.platform.coordinates import GeoInput
from services.cases.filing import IntakeError, build_case_input
from services.intake.merge import (
    MERGE_WINDOW,
    MergeKey,
    MergeRegistry,
    PendingReport,
    camera_key,
    merge_or_start,
)
from services.platform.db import SessionFactory, upsert_insert
from services.platform.distance import haversine_km
from services.platform.geo import GridIndex

if TYPE_CHECKING:
    from services.intake.runtime import DeviceRuntime

# Fixed bounds of what a device may report (how far ahead of our clock, how old, how far a
# camera sees); a town that needs others changes them here.
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_REPORT_AGE = timedelta(hours=24)
CAMERA_SIGHT_METRES = 300.0


class DeviceForbidden(Exception):
    """The device may not make this kind of report (a sensor posting detections): HTTP 403."""


@dataclass(frozen=True)
class Intake:
    """What intake needs for its lifetime (built from the API's state)."""

    client: Client
    sessions: SessionFactory
    catalog: Catalog
    grids: GridIndex
    task_queue: str
    mapping: IntakeMap
    merge_window: timedelta = MERGE_WINDOW  # GRIDPLUS_INTAKE_MERGE_WINDOW
    runtime: DeviceRuntime | None = None  # the API's writer and coalescer (None: direct)

    @property
    def registry(self) -> MergeRegistry:
        return MergeRegistry(self.sessions, self.merge_window)


def check_time(field: str, at: datetime, now: datetime) -> None:
    """A device's clock may drift a little; not minutes into the future, not days behind."""
    if at > now + FUTURE_TOLERANCE:
        raise IntakeError(field, "is more than 5 minutes in the future")
    if at < now - MAX_REPORT_AGE:
        raise IntakeError(field, "is more than 24 hours old")


def _event_id(device: Device, given: str | None, *parts: object) -> str:
    if given:
        return given
    text = "|".join(str(part) for part in (device.id, *parts))
    return "h" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:31]


def _case_input(
    intake: Intake,
    case_type: CaseType,
    at: GeoPoint | GeoInput,
    reporter: Actor,
    source: CaseSource,
    description: str,
    evidence: Evidence,
    reported_at: datetime,
) -> OpenCaseInput:
    """File the report as a case would be filed (also checks the point is inside the town)."""
    request = CreateCase(
        case_type=case_type.code,
        location=at,
        description=description,
        evidence=[evidence],
        source=source,
    )
    return build_case_input(
        request, reporter, "GP-PENDING", intake.catalog, intake.grids, now=reported_at
    )


async def _previous(intake: Intake, device_id: str, event_id: str) -> ReportAccepted | None:
    async with intake.sessions() as session:
        row = await session.scalar(
            select(Detection)
            .where(col(Detection.device_id) == device_id)
            .where(col(Detection.event_id) == event_id)
        )
    if row is None:
        return None
    return _answer(row.event_id, row.outcome, row.case_id, row.case_type, row.received_at)


async def record_once(
    intake: Intake, device_id: str, row: dict[str, Any], answer: ReportAccepted
) -> ReportAccepted:
    """Record a report that needs no Temporal call now (coalesced later, or below the
    threshold) and give ``answer``; a retried post is answered from its first row."""
    if await _record(intake, row):
        return answer
    previous = await _previous(intake, device_id, row["event_id"])
    assert previous is not None
    return previous


def _answer(
    event_id: str, outcome: str, case_id: str | None, case_type: str, received_at: datetime
) -> ReportAccepted:
    merged = outcome == "merged" or (outcome == "recorded" and case_id is not None)
    return ReportAccepted(
        event_id=event_id,
        outcome=cast(ReportOutcome, outcome),
        case_id=case_id,
        merged=merged,
        case_type=case_type,
        received_at=received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC),
    )


async def _record(intake: Intake, values: dict[str, Any]) -> bool:
    """Write the row (group-committed with others by the API's writer); False if it existed."""
    values.setdefault("pending", False)
    if intake.runtime is not None:
        return await intake.runtime.writer.write(values)
    async with intake.sessions() as session, session.begin():
        insert = upsert_insert(session.get_bind().dialect.name)
        result = await session.execute(
            insert(Detection)
            .values(values)
            .on_conflict_do_nothing(index_elements=["device_id", "event_id"])
            .returning(Detection.id)
        )
        return result.first() is not None


async def _merge(
    intake: Intake,
    key: MergeKey,
    update_id: str,
    at: datetime,
    actor: Actor,
    evidence: Evidence,
    inp: OpenCaseInput,
) -> tuple[ReportOutcome, str]:
    action = AddEvidence(actor=actor, idempotency_key=update_id, evidence=[evidence])
    report = PendingReport(
        update_id, at, action, lambda case_id: inp.model_copy(update={"case_id": case_id})
    )
    result = await merge_or_start(intake.client, intake.registry, key, report, intake.task_queue)
    outcome: ReportOutcome = "opened" if result.opened else "merged"
    if not result.attached and not result.opened:
        outcome = "recorded"
    return outcome, result.case_id


async def receive_detection(
    intake: Intake, device: Device, body: CameraDetection, now: datetime | None = None
) -> ReportAccepted:
    """A camera's detection: recorded always, merged into (or opening) a case above threshold."""
    now = now or datetime.now(UTC)
    if device.kind != "camera":
        raise DeviceForbidden("only a camera posts detections; a sensor posts events")
    rule = intake.mapping.camera_detections.get(body.detection_type)
    if rule is None:
        known = ", ".join(sorted(intake.mapping.camera_detections))
        raise IntakeError("detection_type", f"unknown {body.detection_type!r} (known: {known})")
    check_time("detected_at", body.detected_at, now)
    mount = GeoPoint(lat=device.lat, lon=device.lon)
    seen = body.location.wgs84() if body.location else None  # converted from its crs
    at = GeoPoint(lat=seen[0], lon=seen[1]) if seen else mount
    metres = haversine_km(mount.lat, mount.lon, at.lat, at.lon) * 1000
    if metres > CAMERA_SIGHT_METRES:
        raise IntakeError("location", f"{metres:.0f} m from the camera, beyond its sight")
    if intake.grids.locate(at.lat, at.lon) is None:  # as filing a case would check it
        raise IntakeError("location", "the point is outside every grid of the town")
    case_type = intake.catalog.case_type(rule.case_type)
    assert case_type is not None  # the intake map is checked against the catalog at load
    event_id = _event_id(
        device, body.event_id, body.detection_type, body.detected_at.isoformat(), body.plate
    )
    row = {
        "device_id": device.id, "event_id": event_id, "kind": "detection",
        "detection_type": body.detection_type, "case_type": case_type.code,
        "confidence": body.confidence, "occurred_at": body.detected_at, "received_at": now,
        "lat": at.lat, "lon": at.lon, "snapshot_url": body.snapshot_url, "plate": body.plate,
        "value": None,
    }  # fmt: skip
    above = body.confidence >= case_type.confidence_threshold
    key = camera_key(
        device.id, body.detection_type, at, mount, body.plate if rule.merge_by_plate else None
    )
    joined = None
    if above and intake.runtime is not None:
        joined = await intake.runtime.coalescible(intake.registry, key, body.detected_at)
    if joined is not None or not above:
        # an open scene's later detection (sent with others by the coalescer) or one below
        # the threshold: only recorded here, a retried post is answered from its first row
        outcome: ReportOutcome = "merged" if joined else "below_threshold"
        row |= {"outcome": outcome, "case_id": joined, "pending": joined is not None}
        answer = _answer(event_id, outcome, joined, case_type.code, now)
        return await record_once(intake, device.id, row, answer)
    previous = await _previous(intake, device.id, event_id)
    if previous is not None:
        return previous
    actor = Actor(role="device", id=device.id)
    plate = f", plate {body.plate}" if body.plate else ""
    evidence = Evidence(
        kind="snapshot",
        url=body.snapshot_url,
        note=f"{body.detection_type} {body.confidence:.2f} at {body.detected_at.isoformat()}"
        + plate,
    )
    description = f"{case_type.name_en} / {case_type.name_zh}: camera {device.id} {device.label}"
    where = body.location or at  # as the camera sent it: the case keeps a non-WGS-84 original
    inp = _case_input(
        intake, case_type, where, actor, "camera", description.strip(), evidence, body.detected_at
    )
    outcome, case_id = await _merge(
        intake, key, f"dev:{device.id}:{event_id}", body.detected_at, actor, evidence, inp
    )
    if intake.runtime is not None:
        intake.runtime.forget(key)  # opened or moved on: look again next time
    await _record(intake, row | {"outcome": outcome, "case_id": case_id})
    return _answer(event_id, outcome, case_id, case_type.code, now)
