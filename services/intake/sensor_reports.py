"""Sensor events: an alarm opens or joins its case, a recovery goes to that case's workflow.

Split from ``services.intake.device_reports`` (cameras), whose checks, record and answer it
shares. A sensor's first alarm starts its case; its later alarms, while that case is open
and still alarming, are recorded and reach it coalesced, as a camera's later detections do
(a gas or water-level sensor re-alarms every few seconds while the reading stays high). A
recovery is never coalesced: it must reach its case (and move it to verification) when it
happens.
"""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.cases.workflow import ReportRecovery
from schemas.intake.devices import ReportAccepted, ReportOutcome, SensorEvent
from schemas.intake.tables import Device
from schemas.platform.common import Actor, Evidence, GeoPoint
from schemas.platform.updates import Update
from services.cases import operations as cases
from services.cases.operations import CaseNotFound
from services.intake.device_reports import (
    DeviceForbidden,
    Intake,
    _answer,
    _case_input,
    _event_id,
    _merge,
    _previous,
    _record,
    check_time,
    record_once,
)
from services.intake.merge import MergeKey, case_id_for, sensor_key
from services.temporal_gateway import ActionRefused


async def receive_sensor_event(
    intake: Intake, device: Device, body: SensorEvent, now: datetime | None = None
) -> ReportAccepted:
    """A sensor's alarm opens or joins its case; its recovery goes to that case's workflow."""
    now = now or datetime.now(UTC)
    if device.kind != "sensor":
        raise DeviceForbidden("only a sensor posts events; a camera posts detections")
    rule = intake.mapping.sensor_types.get(device.sensor_type or "")
    if rule is None:
        raise DeviceForbidden(f"sensor type {device.sensor_type!r} is no longer mapped to a case")
    check_time("occurred_at", body.occurred_at, now)
    case_type = intake.catalog.case_type(rule.case_type)
    assert case_type is not None
    event_id = _event_id(device, body.event_id, body.event, body.occurred_at.isoformat())
    previous = await _previous(intake, device.id, event_id)
    if previous is not None:
        return previous
    actor = Actor(role="device", id=device.id)
    reading = f" {body.value:g}{body.unit or ''}" if body.value is not None else ""
    note = f"{device.sensor_type} {body.event}{reading} at {body.occurred_at.isoformat()}"
    evidence = Evidence(kind="sensor", note=(note + (f": {body.note}" if body.note else ""))[:2000])
    key = sensor_key(device.id, case_type.code)
    update_id = f"dev:{device.id}:{event_id}"
    case_id: str | None
    row = {
        "device_id": device.id, "event_id": event_id, "kind": body.event,
        "detection_type": device.sensor_type or "", "case_type": case_type.code,
        "confidence": None, "occurred_at": body.occurred_at, "received_at": now,
        "lat": device.lat, "lon": device.lon, "snapshot_url": None, "plate": None,
        "value": body.value,
    }  # fmt: skip
    joined = None
    if body.event == "alarm" and intake.runtime is not None:
        joined = await intake.runtime.coalescible(intake.registry, key, body.occurred_at)
    if joined is not None:  # recorded here, sent to its case with the others by the flusher
        row |= {"outcome": "merged", "case_id": joined, "pending": True}
        answer = _answer(event_id, "merged", joined, case_type.code, now)
        return await record_once(intake, device.id, row, answer)
    if body.event == "alarm":
        at = GeoPoint(lat=device.lat, lon=device.lon)
        description = (
            f"{case_type.name_en} / {case_type.name_zh}: sensor {device.id} {device.label}"
        )
        inp = _case_input(
            intake, case_type, at, actor, "sensor", description.strip(), evidence, body.occurred_at
        )
        outcome, case_id = await _merge(
            intake, key, update_id, body.occurred_at, actor, evidence, inp
        )
    else:
        outcome, case_id = await _recover(intake, key, update_id, body, actor, evidence)
    await _record(intake, row | {"outcome": outcome, "case_id": case_id})
    return _answer(event_id, outcome, case_id, case_type.code, now)


async def _recover(
    intake: Intake,
    key: MergeKey,
    update_id: str,
    body: SensorEvent,
    actor: Actor,
    evidence: Evidence,
) -> tuple[ReportOutcome, str | None]:
    """``report_recovery`` on the key's current case, if it is still open."""
    slot = await intake.registry.get(key)
    if slot is None:
        return "no_open_case", None
    case_id = case_id_for(key, slot.generation)
    action = ReportRecovery(
        actor=actor, idempotency_key=update_id, note=body.note, evidence=[evidence]
    )
    try:
        await cases.act(intake.client, case_id, Update.REPORT_RECOVERY, action)
    except CaseNotFound:
        return "no_open_case", None
    except ActionRefused as refused:
        if refused.code != "case_ended":
            raise
        return "no_open_case", None
    await intake.registry.recovered(key, slot.generation, body.occurred_at)
    return "recovered", case_id
