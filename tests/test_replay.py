"""Replay every saved history with the current workflow code: determinism is a CI gate.

The histories under ``tests/histories`` were recorded from real runs of every path
(``make histories``). A change to a workflow that would break a running case (a new
activity or timer in the middle of the loop without ``workflow.patched``) makes the
replayer raise here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import workflow_runner
from workflows.registry import WORKFLOWS

ROOT = Path(__file__).parent / "histories"
# Current histories at the top; those recorded before a patch stay in a subfolder named
# after the version they were recorded with, so both branches of each patch keep replaying.
HISTORIES = sorted(ROOT.rglob("*.json"))


def test_every_path_has_a_saved_history() -> None:
    names = {p.stem for p in ROOT.glob("*.json")}
    assert {
        "case_steward_path_closed",
        "case_timeouts_department_urge_cancelled",
        "case_decline_rework_closed",
        "case_duplicate_and_refused_cancelled",
        "case_department_direct_closed",
        "case_both_paths_closed",
        "case_sensor_recovery_closed",
        "case_inspection_three_departments_closed",
        "case_inspection_cancelled",
        "case_inspection_overdue_reassigned",
        "case_inspection_unknown_enterprise_cancelled",
        "case_inspection_unassigned_then_booked",
        "case_rectification_reinspected_closed",
        "case_rectification_rework_closed",
        "case_rectification_escalated_enforced_closed",
        "case_campaign_first_run_continued_as_new",
        "case_campaign_last_run_completed",
        # working time (worktime-v1) and suspension (缓办), issue 15
        "case_worktime_holiday_head_escalation_cancelled",
        "case_worktime_emergency_wall_clock_cancelled",
        "case_worktime_calendar_loaded_while_open_cancelled",
        "case_suspension_center_resumed_cancelled",
        "case_suspension_resumed_on_date_cancelled",
        # worktime-v2: the department's new_case message after its stage's deadline
        "case_worktime_v2_department_hears_its_deadline_cancelled",
        # worktime-v2: a steward stage on its team's own duty roster
        "case_worktime_v2_team_roster_offer_cancelled",
        # reserve-slice-v1: the offer's team calendar comes with the reservation
        "case_reserve_slice_v1_team_roster_offer_cancelled",
        "case_inspection_v3_cancelled_inspector_released",
        "case_inspection_v3_cancelled_while_preparing",
        # a round open until its hazards are closed (campaign-v2, issue 13 C1)
        "case_campaign_v2_rectifying_then_completed",
        # an extension of an overdue verification re-arms its timer (overdue-rearm-v1)
        "case_overdue_rearm_v1_extended",
    } <= names


@pytest.mark.parametrize(
    "path", HISTORIES, ids=[str(p.relative_to(ROOT).with_suffix("")) for p in HISTORIES]
)
async def test_replay(path: Path) -> None:
    raw = json.loads(path.read_text())  # noqa: ASYNC240  (a small file, read once)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", raw)
    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=pydantic_data_converter,
        # the strict sandbox (as the test suite's workers run): replay also trips its guard
        workflow_runner=workflow_runner(isolated=True),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
