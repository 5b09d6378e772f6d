"""Inspection rounds on the real time-skipping server: pacing, continue-as-new, and a full
round of the 494 demo enterprises with 20 inspectors, measured against five separate rounds."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlmodel import col
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from constants import SEARCH_ATTRIBUTES, inspection_workflow_id, rectification_workflow_id
from schemas.inspections.campaign import CampaignFilter, CampaignInput, CampaignProgress
from schemas.inspections.rectification import CancelRectification
from schemas.inspections.tables import Enterprise, HazardRecord, InspectionRecord
from schemas.platform.updates import Update
from services.inspections.operations import create_campaign_schedule, start_campaign
from services.inspections.reports import round_report
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.temporal_gateway import workflow_running as running
from settings import Settings
from tests.auto_inspector import AutoInspector
from tests.conftest import DEV_SERVER
from tests.inspection_support import SUPERVISOR, TASK_QUEUE, add_enterprise, add_inspectors
from tests.support import save_history
from tools.demo_data import build_town
from tools.demo_enterprises import load_demo_enterprises
from worker import build_worker

pytestmark = pytest.mark.usefixtures("worker")


async def cleanup(client: Client, sessions: SessionFactory, campaign_id: str) -> None:
    """Terminate what the round left open (hazards nobody rectifies in a test)."""
    async with sessions() as session:
        inspections = (
            await session.execute(
                select(col(InspectionRecord.inspection_id)).where(
                    col(InspectionRecord.campaign_id) == campaign_id,
                    col(InspectionRecord.status) != "closed",
                )
            )
        ).scalars()
        ids = [inspection_workflow_id(i) for i in inspections]
        hazards = (
            await session.execute(
                select(col(HazardRecord.rectification_id)).where(
                    col(HazardRecord.inspection_id).like(f"JI-%-{campaign_id}"),
                    col(HazardRecord.status) != "closed",
                )
            )
        ).scalars()
        ids += [rectification_workflow_id(h) for h in hazards]
    for workflow_id in ids:
        if await running(client, workflow_id):
            try:
                await client.get_workflow_handle(workflow_id).terminate("test over")
            except RPCError as error:  # it completed meanwhile (its hazards were cancelled)
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise


async def cancel_hazards(
    client: Client, sessions: SessionFactory, handle: Any, campaign_id: str
) -> None:
    """The center cancels every hazard of a round whose visits are done, so that the round
    (open until its hazards are closed: campaign-v2) completes."""
    for _ in range(1200):
        progress: CampaignProgress = await handle.query("progress", result_type=CampaignProgress)
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(col(HazardRecord.rectification_id), col(HazardRecord.status)).where(
                        col(HazardRecord.inspection_id).like(f"JI-%-{campaign_id}")
                    )
                )
            ).all()
        if progress.status != "running" and len(rows) >= progress.hazards_found:
            break
        await asyncio.sleep(0.1)
    for rid, status in rows:
        if status in ("closed", "cancelled"):
            continue
        cancel = CancelRectification(
            actor=SUPERVISOR, idempotency_key=f"k-test-over-{rid}", reason="test over"
        )
        await client.get_workflow_handle(rectification_workflow_id(rid)).execute_update(
            Update.CANCEL, cancel
        )


async def start(client: Client, inp: CampaignInput) -> Any:
    workflow_id, created = await start_campaign(client, inp, TASK_QUEUE)
    assert created
    return client.get_workflow_handle(workflow_id, result_type=CampaignProgress)


async def test_small_round_paced_and_continued_as_new(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    risks = ["low", "high", "medium", "high", "low"]
    ids = [
        await add_enterprise(sessions, grids, "G020", industry="machinery",
                             hazardous_chemicals=False, risk_level=r)
        for r in risks
    ]  # fmt: skip
    await add_inspectors(sessions, "G020", 1)
    inp = CampaignInput(
        campaign_id="CT-SMALL-" + ids[0][-4:],
        requested_by=SUPERVISOR,
        filter=CampaignFilter(enterprise_ids=ids),
        target_window=timedelta(days=20),
        lookahead_per_inspector=2,
        continue_every=2,
    )
    handle = await start(env.client, inp)
    auto = AutoInspector(env, sessions, inp.campaign_id or "", 5, 2, hazard_per_mille=0)
    await auto.run(patience=120)
    result: CampaignProgress = await handle.result()
    assert (result.planned, result.visited, result.max_in_flight) == (5, 5, 2)
    assert result.runs >= 2  # continued as new after every 2 starts
    assert (result.joint_visits, result.separate_visits, result.visits_saved) == (5, 25, 20)
    assert result.round_time is not None and result.round_time > timedelta(0)
    assert (await handle.query("progress", result_type=CampaignProgress)).visited == 5
    async with sessions() as session:
        order = (
            await session.execute(
                select(col(InspectionRecord.enterprise_id), col(Enterprise.risk_level))
                .join(Enterprise, col(Enterprise.id) == col(InspectionRecord.enterprise_id))
                .where(col(InspectionRecord.campaign_id) == inp.campaign_id)
                .order_by(col(InspectionRecord.visit_at), col(InspectionRecord.enterprise_id))
            )
        ).all()
    assert [risk for _, risk in order][:2] == ["high", "high"]  # high risk gets the first slots
    await save_history(handle, "campaign_last_run_completed")
    started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    first = env.client.get_workflow_handle(handle.id, run_id=started.first_execution_run_id)
    last_event = (await first.fetch_history()).events[-1].event_type
    assert last_event == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    await save_history(first, "campaign_first_run_continued_as_new")


async def test_round_of_494_enterprises_with_20_inspectors(
    env: WorkflowEnvironment, sessions: SessionFactory
) -> None:
    town = build_town(seed=17, stewards=0)
    await load_demo_enterprises(sessions, town, inspectors=20, trainee_share=0.0)
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE inspector SET on_duty = (id LIKE 'IR%')"))
        demo = list(
            (
                await session.execute(
                    select(col(Enterprise.id)).where(col(Enterprise.synthetic).is_(True))
                )
            ).scalars()
        )
    assert len(demo) == 494
    campaign_id = "CT-ROUND-494"
    inp = CampaignInput(
        campaign_id=campaign_id,
        requested_by=SUPERVISOR,
        name="2026 Q4 joint safety round",
        filter=CampaignFilter(enterprise_ids=demo),
        target_window=timedelta(days=30),
    )
    began = time.monotonic()
    handle = await start(env.client, inp)
    auto = AutoInspector(env, sessions, campaign_id, 494, 20 * 2, hazard_per_mille=5)
    try:
        await auto.run(patience=300)
        # every visit made: the round is rectifying until its hazards are closed
        # (campaign-v2); a test has nobody to rectify them, so the center cancels them
        await cancel_hazards(env.client, sessions, handle, campaign_id)
        result: CampaignProgress = await handle.result()
    finally:
        wall = time.monotonic() - began
        await cleanup(env.client, sessions, campaign_id)
    assert (result.planned, result.visited, result.inspectors) == (494, 494, 20)
    assert result.joint_visits == 494 and result.separate_visits == 494 * 5
    assert result.round_time is not None and result.runs >= 5
    assert result.status == "completed" and result.hazards_closed == result.hazards_found
    async with sessions() as session:
        report = await round_report(session, campaign_id)
    assert report is not None and report.enterprises_visited == 494
    assert report.visits_saved == 494 * 4
    assert report.separate_rounds_model_working_days > report.working_days
    days = result.round_time.total_seconds() / 86400
    print(
        f"\nROUND 494 enterprises / {result.inspectors} inspectors: simulated round time "
        f"{days:.1f} days ({report.working_days} working days), target 30 days; "
        f"visits: {report.joint_visits} joint = 1.0 per enterprise vs {report.separate_visits} "
        f"separate = {report.visits_per_enterprise_separate:.1f} per enterprise "
        f"({report.visits_saved} saved); five separate rounds with the same 20 people: "
        f"{report.separate_rounds_model_working_days} working days (model); hazards "
        f"{result.hazards_found} ({result.critical} critical), runs {result.runs}, "
        f"auto-inspector steps {auto.steps}, wall {wall:.0f}s"
    )


async def test_a_temporal_schedule_starts_rounds(
    sessions: SessionFactory, http: httpx.AsyncClient, settings: Settings
) -> None:
    """On the dev server (the Java test server has no schedules): trigger the schedule,
    and the round it starts runs to completion with an id from its start time."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(DEV_SERVER),
        data_converter=pydantic_data_converter,
        search_attributes=list(SEARCH_ATTRIBUTES),
    )
    queue = "gridplus-schedule-test"
    try:
        async with build_worker(env.client, sessions, http, settings, task_queue=queue):
            template = CampaignInput(
                requested_by=SUPERVISOR,
                name="quarterly round",
                filter=CampaignFilter(enterprise_ids=["E-NOBODY"]),
            )
            schedule = await create_campaign_schedule(
                env.client, "quarterly-round", template, queue, cron="0 1 1 */3 *"
            )
            await schedule.trigger()
            for _ in range(200):
                actions = (await schedule.describe()).info.recent_actions
                if actions:
                    break
                await asyncio.sleep(0.05)
            action = actions[0].action
            assert isinstance(action, ScheduleActionExecutionStartWorkflow)
            run = env.client.get_workflow_handle(action.workflow_id, result_type=CampaignProgress)
            result: CampaignProgress = await run.result()
            assert (result.status, result.planned) == ("completed", 0)
            assert result.campaign_id.startswith("R") and len(result.campaign_id) == 13
            await schedule.delete()
    finally:
        await env.shutdown()
