"""Checklists, the visit calendar, registry import and the demo enterprises (no Temporal)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.inspections.checklists import (
    CHECKLISTS_FILE,
    Checklists,
    default_checklists,
    load_checklists,
)
from services.inspections.inspector_calendar import next_slot, simulate_round, working_days_between
from services.inspections.registry import RegistryError, read_enterprises, read_inspectors
from tools.demo_data import build_town
from tools.demo_enterprises import build_enterprises, build_inspectors


def test_shipped_checklists_cover_five_departments_with_rules() -> None:
    lists = default_checklists()
    assert lists.departments == (
        "emergency_management", "fire", "environment", "market_regulation",
        "economic_development",
    )  # fmt: skip
    for item in lists.items:
        assert item.legal_basis and item.text_zh and item.text_en
        assert {a.severity for a in item.answers} <= {"minor", "major", "critical"}
    assert lists.rectification.deadlines["critical"] < lists.rectification.deadlines["minor"]


def test_one_form_merges_what_applies_to_the_enterprise() -> None:
    lists = default_checklists()
    chemical = lists.form_for("chemical", hazardous_chemicals=True)
    textile = lists.form_for("textile", hazardous_chemicals=False)
    codes = {i.code for i in chemical}
    assert "emergency_management.hazchem_storage" in codes
    assert "emergency_management.hazchem_storage" not in {i.code for i in textile}
    assert "market_regulation.food_production_license" not in codes
    assert {i.department for i in textile} == set(lists.departments)  # one visit, five lists
    assert not any(i.automatic for i in chemical)  # record items only with a finding
    with_finding = lists.form_for("textile", False, ["emergency_management.hot_work_records"])
    assert [i.code for i in with_finding if i.automatic] == [
        "emergency_management.hot_work_records"
    ]
    order = [lists.departments.index(i.department) for i in chemical]
    assert order == sorted(order)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["items"].append(dict(d["items"][0])), "duplicate item code"),
        (lambda d: d["items"][0].update(department="fire"), "must start with its department"),
        (lambda d: d["items"][0]["applies"].update(industries=["spaceships"]), "unknown industr"),
        (lambda d: d["rectification"]["deadlines"].pop("minor"), "minor, major and critical"),
        (lambda d: d["record_rules"][0].update(item="fire.exits"), "not an automatic item"),
        (lambda d: d["items"][0]["answers"][0].update(severity="catastrophic"), "severity"),
    ],
)
def test_a_bad_checklist_file_is_refused_at_load(
    tmp_path: Path, change: object, message: str
) -> None:
    data = json.loads(CHECKLISTS_FILE.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path = tmp_path / "checklists.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValidationError, match=message):
        load_checklists(path)
    assert isinstance(default_checklists(), Checklists)


def test_visits_are_booked_inside_working_hours() -> None:
    visit = default_checklists().visit
    friday_evening = datetime(2026, 11, 27, 9, 5, tzinfo=UTC)  # 17:05 in the town
    start, end = next_slot(friday_evening, 150, visit)
    assert start == datetime(2026, 11, 30, 0, 30, tzinfo=UTC)  # Monday 08:30
    assert end - start == timedelta(minutes=150)
    morning = datetime(2026, 11, 25, 1, 10, tzinfo=UTC)  # Wednesday 09:10
    assert next_slot(morning, 60, visit)[0] == datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    assert visit.minutes_for(21) == 150  # 40 min travel + 21 x 5, on the half hour
    assert working_days_between(friday_evening, start, visit) == 2


def test_the_separate_rounds_model_needs_more_days_than_one_joint_round() -> None:
    visit = default_checklists().visit
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    _, joint = simulate_round([150] * 494, 20, monday, visit)
    _, separate = simulate_round([visit.minutes_for(5)] * 494 * 5, 20, monday, visit)
    assert joint < separate


def test_registry_import_from_csv_and_json_names_the_bad_row(tmp_path: Path) -> None:
    csv_file = tmp_path / "enterprises.csv"
    csv_file.write_text(
        "id,name,grid_id,lat,lon,industry,risk_level,hazardous_chemicals\n"
        "E9001,桐乡市示例化工有限公司,G010,30.75,120.48,chemical,high,true\n"
        "E9002,示例纺织,G011,30.74,120.49,textile,low,false\n",
        encoding="utf-8",
    )
    rows = read_enterprises(csv_file)
    assert [(r.id, r.hazardous_chemicals) for r in rows] == [("E9001", True), ("E9002", False)]
    inspectors = tmp_path / "inspectors.json"
    inspectors.write_text(json.dumps([
        {"id": "IR900", "name": "张三", "grid_id": "G010", "qualifications": ["fire"]},
    ]), encoding="utf-8")  # fmt: skip
    assert read_inspectors(inspectors)[0].qualifications == ["fire"]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,grid_id,lat,lon,industry,risk_level\nE1,x,G1,30,120,textile,extreme\n")
    with pytest.raises(RegistryError, match="row 1: invalid risk_level"):
        read_enterprises(bad)


def test_demo_enterprises_have_the_shape_of_the_town() -> None:
    town = build_town(seed=17, stewards=0)
    companies = build_enterprises(town)
    again = build_enterprises(town)
    assert companies == again  # deterministic
    assert len(companies) == 494 and len({c.id for c in companies}) == 494
    grids = {g.id for g in town.grids}
    assert {c.grid_id for c in companies} <= grids
    assert all(c.synthetic and "演示" in c.name for c in companies)
    chemical = [c for c in companies if c.industry == "chemical"]
    assert all(c.hazardous_chemicals for c in chemical)
    assert sum(c.risk_level == "high" for c in companies) < len(companies) / 3
    crew = build_inspectors(town, companies, 60)
    assert len(crew) == 60
    full = [i for i in crew if len(i.qualifications) == 5]
    assert len(crew) * 0.7 < len(full) < len(crew)
    assert all(len(i.qualifications) == 5 for i in build_inspectors(town, companies, 20, 17, 0.0))
