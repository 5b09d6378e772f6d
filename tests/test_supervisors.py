"""Supervisor actions through the API: each recorded in the timeline with who and why."""

from __future__ import annotations

from typing import Any

import pytest

from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from tests.case_api_support import Api, api
from tests.support import active_tasks, grid_point, place_stewards

pytestmark = pytest.mark.usefixtures("worker", "off_duty")
__all__ = ["api"]  # a fixture, imported


def kinds(case: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in case["timeline"]]


async def test_extend_reassign_urge_cancel_round_trip(
    api: Api, sessions: SessionFactory, grids: GridIndex
) -> None:
    at = grid_point(grids, "G063")
    s1, s2 = await place_stewards(sessions, grids, at, 2)
    case_id = await api.create("illegal_parking", at.model_dump())
    first = await api.until(case_id, lambda c: c["status"] == "dispatched")
    assert first["steward_id"] == s1

    extended = await api.post(
        f"/supervisors/cases/{case_id}/extend", {"extra": "PT30M", "reason": "车主正在赶来"}
    )
    assert extended.status_code == 200, extended.text
    moved = await api.case(case_id)
    assert moved["deadline"] > first["deadline"]

    reassigned = await api.post(
        f"/supervisors/cases/{case_id}/reassign", {"steward_id": s2, "reason": "s2 更熟悉这条街"}
    )
    assert reassigned.status_code == 200
    second = await api.until(
        case_id, lambda c: c["status"] == "dispatched" and c["steward_id"] == s2
    )
    assert await active_tasks(sessions, s1) == 0
    assert await active_tasks(sessions, s2) == 1

    urged = await api.post(f"/supervisors/cases/{case_id}/urge", {"note": "请尽快处理"})
    assert urged.status_code == 200
    cancelled = await api.post(f"/supervisors/cases/{case_id}/cancel", {"reason": "重复上报"})
    assert cancelled.json()["status"] == "cancelled"
    final = await api.until(case_id, lambda c: c["live"] is False)
    assert final["status"] == "cancelled"
    entries = {e["kind"]: e for e in final["timeline"]}
    for kind, note in (
        ("deadline_extended", "车主正在赶来"),
        ("reassigned", "s2 更熟悉这条街"),
        ("supervisor_urge", "请尽快处理"),
        ("cancelled", "重复上报"),
    ):
        assert entries[kind]["actor"] == {"role": "supervisor", "id": "center-li"}
        assert entries[kind]["note"] == note
    assert kinds(final).count("dispatched") == 2
    assert second["waiting_for"].startswith(f"steward {s2}")
    assert await active_tasks(sessions, s2) == 0


async def test_merge_moves_evidence_and_ends_the_duplicate(api: Api, grids: GridIndex) -> None:
    at = grid_point(grids, "G015").model_dump()
    photo = {"kind": "snapshot", "url": "https://cam.example/17/1.jpg"}
    duplicate = await api.create("red_light_running", at, evidence=[photo])
    target = await api.create("red_light_running", at)
    await api.until(duplicate, lambda c: c["status"] == "escalated")
    itself = await api.post(
        f"/supervisors/cases/{duplicate}/merge", {"target_case_id": duplicate, "reason": "x"}
    )
    assert itself.status_code == 409
    merged = await api.post(
        f"/supervisors/cases/{duplicate}/merge",
        {"target_case_id": target, "reason": "同一车辆同一时刻"},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["status"] == "cancelled"
    ended = await api.until(duplicate, lambda c: c["live"] is False)
    assert kinds(ended)[-1] == "merged_into"
    assert ended["timeline"][-1]["data"] == {"target": target}
    kept = await api.until(target, lambda c: "evidence_added" in kinds(c))
    added = next(e for e in kept["timeline"] if e["kind"] == "evidence_added")
    assert added["evidence"] == [{**photo, "note": None}]
    assert duplicate in added["note"]


async def test_reopen_continues_the_timeline_as_rework(api: Api, grids: GridIndex) -> None:
    at = grid_point(grids, "G095").model_dump()
    case_id = await api.create("red_light_running", at)
    await api.until(case_id, lambda c: c["status"] == "escalated")
    still_open = await api.post(f"/supervisors/cases/{case_id}/reopen", {"reason": "x"})
    assert still_open.status_code == 409
    path = f"/departments/traffic_police/cases/{case_id}/result"
    await api.post(path, {"note": "已处罚"}, role="department", subject="traffic_police")
    await api.post(f"/supervisors/cases/{case_id}/verify", {"passed": True})
    closed = await api.until(case_id, lambda c: c["status"] == "closed" and not c["live"])
    last_seq = closed["timeline"][-1]["seq"]

    reopened = await api.post(
        f"/supervisors/cases/{case_id}/reopen", {"reason": "车主申诉：号牌识别错误"}
    )
    assert reopened.status_code == 202, reopened.text
    again = await api.until(case_id, lambda c: c["live"] and c["status"] == "escalated")
    assert again["rework_count"] == 1
    assert [e["seq"] for e in again["timeline"]][:2] == [last_seq + 1, last_seq + 2]
    assert again["timeline"][0]["kind"] == "reopened"
    assert again["timeline"][0]["note"] == "车主申诉：号牌识别错误"
    listed = await api.client.get(
        f"/cases/{case_id}/timeline", headers=api.auth("supervisor", "center-li")
    )
    seqs = [e["seq"] for e in listed.json()["entries"]]
    assert seqs == list(range(1, len(seqs) + 1))  # one continuous timeline in the projection
    assert "reopened" in [e["kind"] for e in listed.json()["entries"]]
