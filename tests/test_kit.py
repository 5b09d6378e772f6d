"""The workflow toolkit on the real time-skipping server: lanes keep their order, the
projector coalesces a burst, the waiter misses a deadline after its reminder, and a
declared update is refused in its validator and answered once per key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from schemas.cases.workflow import ActionOutcome, UrgeCase
from schemas.platform.common import Actor, town_time
from schemas.platform.updates import Update
from tests.kit_workflow import SEEN, KitProbeWorkflow, ProbeResult, record
from workflows.cases.workflow import CaseWorkflow


@pytest.fixture(scope="module")
async def queue(env: WorkflowEnvironment) -> AsyncIterator[str]:
    name = f"kit-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=name, workflows=[KitProbeWorkflow], activities=[record]
    ):
        yield name


async def test_lanes_projector_waiter_and_a_declared_update(
    env: WorkflowEnvironment, queue: str
) -> None:
    SEEN.clear()
    handle = await env.client.start_workflow(
        "KitProbeWorkflow", id=f"kit-{uuid.uuid4()}", task_queue=queue, result_type=ProbeResult
    )
    steward = UrgeCase(actor=Actor(role="steward", id="S1"), idempotency_key="kit-key-1", note="go")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(Update.URGE.value, steward, result_type=ActionOutcome)
    assert "only supervisors urge" in str(refused.value.cause)
    boss = UrgeCase(actor=Actor(role="supervisor", id="B1"), idempotency_key="kit-key-2", note="go")
    first = await handle.execute_update(Update.URGE.value, boss, result_type=ActionOutcome)
    again = await handle.execute_update(
        Update.URGE.value, boss, id="another-update-id", result_type=ActionOutcome
    )
    assert first.message == again.message == "urged 1"  # one effect per key
    result = ProbeResult.model_validate(await handle.result())
    assert result == ProbeResult(on_time=False, reminded=True, urged=1)
    assert [t for lane, t in SEEN if lane == "a"] == ["0", "1", "2"]
    assert [t for lane, t in SEEN if lane == "b"] == ["0", "1", "2"]
    projected = [t for lane, t in SEEN if lane == "projection"]
    assert projected[-1] == "5" and len(projected) < 5  # a burst costs fewer writes


def test_every_case_update_is_declared_with_its_validator() -> None:
    names = {member.value for member in Update}
    declared = {
        defn.name: defn
        for defn in (
            getattr(getattr(CaseWorkflow, attr), "_defn", None) for attr in dir(CaseWorkflow)
        )
        if defn is not None and defn.name in names
    }
    assert len(declared) == 21  # 18, and the three of suspension (缓办, issue 15)
    assert all(defn.validator is not None for defn in declared.values())
    assert declared["urge"].arg_types == [UrgeCase]


def test_town_time_reads_in_the_town_offset() -> None:
    from datetime import UTC, datetime

    assert town_time(None) == "-"
    assert town_time(datetime(2026, 1, 1, 16, 30, tzinfo=UTC)) == "2026-01-02 00:30"
    assert town_time(datetime(2026, 1, 1, 16, 30, tzinfo=UTC), 0) == "2026-01-01 16:30"
