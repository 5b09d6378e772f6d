"""Devices: AI cameras post detections, IoT sensors post alarms and recoveries.

A device authenticates with its own key (``X-Device-Key``) on the path that names it, so
it can only post as itself. Bodies are capped (413, ``api.body_limit``); the rules live in
``services.intake.device_reports``. When Temporal cannot be reached the answer is 503: the device
retries with the same ``event_id`` and its report still counts once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path
from sqlalchemy.exc import DBAPIError
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.deps import State
from api.errors import RETRY_AFTER_SECONDS, UNAVAILABLE
from schemas.cases.api import Problem
from schemas.intake.devices import CameraDetection, ReportAccepted, SensorEvent, default_intake_map
from schemas.intake.tables import Device
from schemas.platform.common import LINE_PATTERN
from services.intake import device_reports as intake_devices
from services.intake import devices, sensor_reports
from services.intake.device_reports import DeviceForbidden, Intake
from services.intake.merge import MergeStuck
from services.temporal_gateway import WorkflowUnavailable

router = APIRouter(prefix="/devices/{device_id}", tags=["devices"])

ERRORS: dict[int | str, dict[str, object]] = {
    **{status: {"model": Problem} for status in (400, 401, 403, 413, 422)},
    503: UNAVAILABLE,
}
UNAUTHORIZED = {"WWW-Authenticate": "DeviceKey"}


async def current_device(
    state: State,
    device_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")],
    key: Annotated[
        str | None, Header(alias="X-Device-Key", max_length=256, pattern=LINE_PATTERN)
    ] = None,
) -> Device:
    """The device named by the path, proven by its key; 401 for anything else."""
    if not key:
        raise HTTPException(401, "missing X-Device-Key", headers=UNAUTHORIZED)
    try:
        if state.devices is not None:
            return await state.devices.keys.authenticate(
                state.devices.database.autocommit, device_id, key
            )
        return await devices.authenticate(state.sessions, device_id, key)
    except devices.DeviceAuthError as error:
        raise HTTPException(401, str(error), headers=UNAUTHORIZED) from error


CurrentDevice = Annotated[Device, Depends(current_device)]


def intake(state: State) -> Intake:
    return Intake(
        client=state.temporal,
        sessions=state.devices.database.sessions if state.devices else state.sessions,
        catalog=state.catalog,
        grids=state.grids,
        task_queue=state.settings.task_queue,
        mapping=default_intake_map(),
        merge_window=state.settings.intake_merge_window,
        runtime=state.devices,
    )


def unavailable() -> HTTPException:
    return HTTPException(
        503,
        "cases cannot be updated right now; retry with the same event_id",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


# Temporal, the case's worker or the database not answering in time: 503, the device sends
# again later (a failed group commit fails every post in it: none of them was recorded).
NOT_NOW = (
    MergeStuck, WorkflowUnavailable, RPCError, WorkflowUpdateRPCTimeoutOrCancelledError,
    DBAPIError,
)  # fmt: skip


@router.post("/detections", status_code=202, response_model=ReportAccepted, responses=ERRORS)
async def post_detection(
    body: CameraDetection, device: CurrentDevice, state: State
) -> ReportAccepted:
    """A camera's detection. Same camera, type and place within the merge window: one case."""
    try:
        return await intake_devices.receive_detection(intake(state), device, body)
    except DeviceForbidden as error:
        raise HTTPException(403, str(error)) from error
    except NOT_NOW as error:
        raise unavailable() from error


@router.post("/events", status_code=202, response_model=ReportAccepted, responses=ERRORS)
async def post_event(body: SensorEvent, device: CurrentDevice, state: State) -> ReportAccepted:
    """A sensor's alarm (opens or joins its case) or recovery (reported to that case)."""
    try:
        return await sensor_reports.receive_sensor_event(intake(state), device, body)
    except DeviceForbidden as error:
        raise HTTPException(403, str(error)) from error
    except NOT_NOW as error:
        raise unavailable() from error
