"""One duty roster per steward team (a grid's stewards), patch ``worktime-v2``.

Loading: the supervisor route and the CLI, validated (an end before its start, overlapping
periods, an unknown team are refused with a 422 naming the field). Running: two teams with
different duty hours give different steward deadlines for the same filing time, and a team
without a roster keeps the default (07:00-22:00 every day); the history is saved for replay.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import build_activities
from activities.stewards.dispatch import DispatchActivities
from constants import ACT_RESERVE_STEWARD, case_workflow_id
from schemas.cases.dispatch import Assignment, DispatchRequest
from schemas.worktime import TOWN_TZ
from services.cases.operations import start_case
from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from services.worktime.rosters import TeamRosterBody, load_roster, team_roster
from settings import Settings
from tests.security_support import bearer
from tests.support import (
    grid_point,
    local_activities,
    open_case,
    place_stewards,
    save_history,
    track,
    wait_for,
)
from tests.test_worktime_case import cancel
from tests.worktime_cases import (  # noqa: F401  (clean_rosters: an autouse fixture)
    case_of,
    clean_rosters,
    steward_grid,
    town,
)
from tools.rosters import main as rosters_cli
from worker import runner_for
from workflows.registry import WORKFLOWS

DAY = {"start": "08:00", "end": "18:00"}
DAYTIME: dict[str, Any] = {
    "team": "G061",
    "days": "every_day",
    "periods": [{"start": "08:00", "end": "20:00"}],
}


async def post(api: httpx.AsyncClient, settings: Settings, body: Any) -> httpx.Response:
    headers = bearer(settings, "supervisor", "center-wang")
    return await api.post("/supervisors/rosters", json=body, headers=headers)


async def test_a_supervisor_loads_reads_and_drops_a_teams_roster(
    api: httpx.AsyncClient, settings: Settings, sessions: SessionFactory
) -> None:
    headers = bearer(settings, "supervisor", "center-wang")
    before = await api.get("/supervisors/rosters/G061", headers=headers)
    assert before.status_code == 200 and before.json()["own"] is False
    assert before.json()["rules"]["periods"] == [{"start": "07:00", "end": "22:00"}]
    loaded = await post(api, settings, DAYTIME)
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["replaced"] is False
    assert loaded.json()["rules"]["office"] == "steward_team:G061"
    read = await api.get("/supervisors/rosters/G061", headers=headers)
    assert read.json()["own"] is True
    assert read.json()["rules"]["periods"] == [{"start": "08:00", "end": "20:00"}]
    again = await post(api, settings, {**DAYTIME, "periods": [{"start": "09:00", "end": "18:00"}]})
    assert again.json()["replaced"] is True
    stored = await team_roster(sessions, "G061")
    assert stored is not None and stored.periods[0].start == "09:00"
    dropped = await api.delete("/supervisors/rosters/G061", headers=headers)
    assert dropped.status_code == 204
    assert await team_roster(sessions, "G061") is None
    gone = await api.delete("/supervisors/rosters/G061", headers=headers)
    assert gone.status_code == 404
    unknown = await api.get("/supervisors/rosters/G999", headers=headers)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"periods": [{"start": "20:00", "end": "08:00"}]}, "periods.0", "does not end after"),
        (
            {"periods": [{"start": "07:00", "end": "13:00"}, {"start": "12:00", "end": "22:00"}]},
            "periods",
            "overlap",
        ),
        ({"periods": [{"start": "07:00", "end": "24:30"}]}, "periods.0", "after 24:00"),
        ({"periods": []}, "periods", "no opening period"),
        ({"team": "G999"}, "team", "unknown team"),
        (
            {
                "seasons": [
                    {"name": "a", "first_day": "06-01", "last_day": "07-31", "periods": [DAY]},
                    {"name": "b", "first_day": "07-01", "last_day": "08-31", "periods": [DAY]},
                ]
            },
            "seasons",
            "overlap",
        ),
        ({"always_open": True}, "periods", "always-open"),
    ],
)
async def test_an_impossible_roster_is_refused_naming_the_field(
    api: httpx.AsyncClient,
    settings: Settings,
    sessions: SessionFactory,
    change: dict[str, Any],
    field: str,
    words: str,
) -> None:
    response = await post(api, settings, {**DAYTIME, **change})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert f"body.{field}" in problem["fields"], problem
    assert words in problem["message"], problem
    assert await team_roster(sessions, "G061") is None  # nothing half-right stored


def test_the_cli_checks_a_roster_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "g061.yaml"
    good.write_text('team: G061\nperiods: [{start: "08:00", end: "20:00"}]\n', encoding="utf-8")
    assert rosters_cli(["check", str(good)]) == 0
    assert "G061 ok" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text('team: G061\nperiods: [{start: "20:00", end: "08:00"}]\n', encoding="utf-8")
    assert rosters_cli(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "periods.0" in err and "20:00-08:00 does not end after it starts" in err


async def test_the_cli_loads_a_roster_for_a_known_team_only(
    tmp_path: Path,
    database_url: str,
    sessions: SessionFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = tmp_path / "g061.json"
    good.write_text(
        '{"team": "G061", "periods": [{"start": "08:00", "end": "20:00"}]}', encoding="utf-8"
    )
    args = ["load", str(good), "--by", "operator-li", "--database-url", database_url]
    assert await asyncio_run_cli(args) == 0
    stored = await team_roster(sessions, "G061")
    assert stored is not None and stored.periods[0].end == "20:00"
    assert await asyncio_run_cli(["show", "G061", "--database-url", database_url]) == 0
    assert '"end":"20:00"' in capsys.readouterr().out
    unknown = tmp_path / "g999.json"
    unknown.write_text(good.read_text().replace("G061", "G999"), encoding="utf-8")
    args = ["load", str(unknown), "--database-url", database_url]
    assert await asyncio_run_cli(args) == 1
    assert "team: unknown team 'G999'" in capsys.readouterr().err
    assert await team_roster(sessions, "G999") is None


async def asyncio_run_cli(args: list[str]) -> int:
    """The CLI runs its own event loop: in a thread, as an operator's shell would."""
    import asyncio

    return await asyncio.to_thread(rosters_cli, args)


def local(at: datetime | None) -> tuple[int, int, int]:
    assert at is not None
    there = at.astimezone(TOWN_TZ)
    return there.day, there.hour, there.minute


@pytest.mark.usefixtures("worker", "off_duty")
async def test_two_teams_with_different_duty_hours_give_different_steward_deadlines(
    env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    day = (await env.get_current_time()).astimezone(TOWN_TZ).date() + timedelta(days=1)
    north, south = grid_point(grids, "G006"), grid_point(grids, "G103")
    (day_steward,) = await place_stewards(sessions, grids, north, 1)
    (night_steward,) = await place_stewards(sessions, grids, south, 1)
    day_team = await steward_grid(sessions, day_steward)
    night_team = await steward_grid(sessions, night_steward)
    assert day_team != night_team
    # The day team is on duty 08:00-20:00; the other keeps the default 07:00-22:00.
    body = TeamRosterBody.model_validate({**DAYTIME, "team": day_team})
    await load_roster(sessions, body, "test-operator", grids.grid_ids)

    now = await env.get_current_time()
    await env.sleep(town(day, 21, 55) - now)
    first = await open_case(env.client, case_of(grids, "street_vendor", north))
    second = await open_case(env.client, case_of(grids, "street_vendor", south))

    def offered(v: Any) -> bool:
        return v.status == "dispatched" and v.deadline is not None

    on_day, on_default = await wait_for(first, offered), await wait_for(second, offered)
    assert (on_day.steward_id, on_default.steward_id) == (day_steward, night_steward)
    tomorrow = (day + timedelta(days=1)).day
    # PT15M to accept, filed at the same 21:55: the day team's clock starts at 08:00 ...
    assert local(on_day.deadline) == (tomorrow, 8, 15)
    # ... the default roster's 5 minutes tonight and 10 tomorrow from 07:00.
    assert local(on_default.deadline) == (tomorrow, 7, 10)
    # each team's calendar came with its reservation (reserve-slice-v1): no step of its own
    for handle in (first, second):
        steps = await local_activities(handle)
        assert steps.count("reserve_nearest_steward") == 1 and "calendar_slice" not in steps
    for handle in (first, second):
        await cancel(handle)
    await save_history(first, "reserve_slice_v1_team_roster_offer_cancelled")


OLDER_QUEUE = "gridplus-test-before-reserve-slice"


@contextlib.asynccontextmanager
async def worker_before_the_patch(
    env: WorkflowEnvironment, sessions: SessionFactory, http: httpx.AsyncClient, settings: Settings
) -> AsyncIterator[None]:
    """Today's workflows, with a reservation that ignores the calendar request, as a worker
    from before ``reserve-slice-v1`` answers it during a rolling upgrade."""
    dispatch = DispatchActivities(sessions)

    @activity.defn(name=ACT_RESERVE_STEWARD)
    async def reserve_before_the_patch(request: DispatchRequest) -> Assignment | None:
        return await dispatch.reserve_nearest_steward(
            request.model_copy(update={"team_slice": None})
        )

    others = [
        a
        for a in build_activities(sessions, http, settings)
        if getattr(a, "__name__", "") != "reserve_nearest_steward"
    ]
    async with Worker(
        env.client,
        task_queue=OLDER_QUEUE,
        workflows=list(WORKFLOWS),
        activities=[*others, reserve_before_the_patch],
        workflow_runner=runner_for(settings.workflow_sandbox),
    ):
        yield


@pytest.mark.usefixtures("off_duty")
async def test_an_offer_whose_reservation_brings_no_calendar_asks_the_calendar_itself(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    grids: GridIndex,
    http: httpx.AsyncClient,
    settings: Settings,
) -> None:
    day = (await env.get_current_time()).astimezone(TOWN_TZ).date() + timedelta(days=1)
    north = grid_point(grids, "G006")
    (steward,) = await place_stewards(sessions, grids, north, 1)
    body = TeamRosterBody.model_validate({**DAYTIME, "team": await steward_grid(sessions, steward)})
    await load_roster(sessions, body, "test-operator", grids.grid_ids)
    now = await env.get_current_time()
    await env.sleep(town(day, 21, 55) - now)
    inp = case_of(grids, "street_vendor", north)
    async with worker_before_the_patch(env, sessions, http, settings):
        await start_case(env.client, inp, OLDER_QUEUE)
        handle = env.client.get_workflow_handle(case_workflow_id(track(inp.case_id)))
        offer = await wait_for(
            handle, lambda v: v.status == "dispatched" and v.deadline is not None
        )
        assert offer.steward_id == steward
        # the team's roster still counts (08:00-20:00: PT15M to accept from 08:00) ...
        assert local(offer.deadline) == ((day + timedelta(days=1)).day, 8, 15)
        assert not [e for e in offer.timeline if e.kind == "worktime_unavailable"]
        # ... asked of the calendar activity, as before the patch
        steps = await local_activities(handle)
        assert steps.count("reserve_nearest_steward") == 1 and "calendar_slice" in steps
        await cancel(handle)
