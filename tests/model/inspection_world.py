"""The inspection walk's world: inspections and their hazards, and every action on them as
the API takes it, each predicted by the models (``tests.model.inspection_model``) first.

Shared by the inspection walk and the campaign walk (a round's inspections are walked the
same way). A step names an inspection or a hazard by index and a variant; it is resolved
against the model's state when it runs (see ``tests.model.walker``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from constants import inspection_workflow_id, rectification_workflow_id
from schemas.inspections.checklists import default_checklists
from schemas.inspections.workflow import InspectionResult, InspectionView
from schemas.platform.common import Actor
from tests.model.case_model import ModelViolation
from tests.model.doors import Answer, Doors
from tests.model.inspection_model import INSPECTOR, FormItem, InspModel, decide
from tests.model.inspection_model import receipt as receipt_of
from tests.model.rectification_model import RectModel
from tests.model.walk_worker import WalkWorker
from tests.model.walker import Failure, Step

T = TypeVar("T")
SUPERVISOR = Actor(role="supervisor", id="center-model")
PHOTO = [{"kind": "photo", "url": "https://e.example/proof.jpg"}]
Last = tuple[str, str, Actor, dict[str, Any], str, Answer]  # kind, path, actor, body, key, answer


async def query(handle: WorkflowHandle[Any, Any], name: str, result_type: type[T]) -> T:
    """A query, asked again when the worker could not answer in time: on 2 loaded cores a
    replay for a query may trip the sandbox's 2 s deadlock detector (nothing is recorded)."""
    for attempt in range(5):
        try:
            answer: T = await handle.query(name, result_type=result_type)
            return answer
        except RPCError as error:
            if "deadlock" not in str(error).lower() or attempt == 4:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


@dataclass
class Insp:
    handle: WorkflowHandle[Any, Any]
    model: InspModel
    last: Last | None = None


@dataclass
class Hazard:
    handle: WorkflowHandle[Any, Any]
    model: RectModel
    booked: str | None
    grid: str
    last: Last | None = None
    completed: bool = False  # the workflow has completed and was checked once after


@dataclass
class World:
    """Everything one walk drives; ``inspectors``: registered inspector -> grid."""

    env: WorkflowEnvironment
    door: Doors
    grid: str
    enterprises: list[str]
    inspectors: dict[str, str]
    inspections: list[Insp] = field(default_factory=list)
    hazards: list[Hazard] = field(default_factory=list)
    starts: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    last_start: tuple[Actor, str, str, str] | None = None
    steps: int = 0
    runner: WalkWorker | None = None  # the walk's own worker, restarted by a ``worker`` step

    async def restart_worker(self) -> None:
        """Restart the walk's worker (``tests.model.walk_worker``)."""
        if self.runner is not None:
            await self.runner.restart()

    def adopt(self, iid: str, enterprise: str) -> Insp:
        """Follow an inspection (started by the walk, or by a round)."""
        for i in self.inspections:
            if i.model.iid == iid:
                return i
        handle = self.env.client.get_workflow_handle(
            inspection_workflow_id(iid), result_type=InspectionResult
        )
        insp = Insp(handle, InspModel(iid, enterprise, self.grid))
        self.inspections.append(insp)
        return insp

    def adopt_hazards(self, insp: Insp, view: InspectionView) -> None:
        known = {h.model.rid for h in self.hazards}
        for slot in view.items:
            rid = slot.rectification_id
            if rid and rid not in known:
                handle = self.env.client.get_workflow_handle(rectification_workflow_id(rid))
                model = RectModel(rid, insp.model.enterprise, slot.item.department)
                model.inspector = view.inspector_id  # the visit's: told to re-inspect
                self.hazards.append(Hazard(handle, model, view.inspector_id, self.grid))

    def learn_form(self, insp: Insp, view: InspectionView) -> None:
        if not insp.model.form and view.items:
            insp.model.form = {
                s.item.code: FormItem(
                    s.item.code,
                    s.item.department,
                    s.item.automatic,
                    {a.code: a.severity for a in s.item.answers},
                )
                for s in view.items
            }

    # ---- who acts --------------------------------------------------------------------
    def someone(self, v: int, booked: str | None, enterprise: str, department: str) -> Actor:
        """Mostly the right party; sometimes another inspector, an outsider, a stranger."""
        others = [i for i in self.inspectors if i != booked]
        pick = v % 12
        if pick < 7 and booked:
            return Actor(role=INSPECTOR, id=booked)
        if pick < 9 and others:
            return Actor(role=INSPECTOR, id=others[v % len(others)])
        return [
            Actor(role=INSPECTOR, id="IT-NOBODY"),
            Actor(role="enterprise", id=enterprise),
            Actor(role="department", id=department),
            SUPERVISOR,
        ][v % 4]

    # ---- opening -----------------------------------------------------------------------
    async def open(self, v: int) -> None:
        """POST /inspections by a regulator or not, with a new, repeated or reused key."""
        enterprise = self.enterprises[v % len(self.enterprises)]
        actor = [
            SUPERVISOR,
            Actor(role="department", id="fire"),
            Actor(role="enterprise", id=enterprise),
            Actor(role=INSPECTOR, id="IT-X"),
        ][v % 4]
        reason, key = "model walk", f"mdl-{uuid.uuid4().hex}"
        if self.last_start is not None and v % 3 == 0:
            actor, enterprise, key, reason = self.last_start
            reason = reason if v % 2 else "another reason"
        previous = self.starts.get((f"{actor.role}:{actor.id}", key, enterprise))
        answer = await self.door.post(
            "/inspections", actor, {"enterprise_id": enterprise, "reason": reason}, key
        )
        if actor.role not in ("supervisor", "department"):
            expect: tuple[bool, str | None] = (False, "forbidden")
        elif previous is not None and previous[1] != reason:
            expect = (False, "idempotency_key_reused")
        else:
            expect = (True, None)
        if (answer.ok, answer.code) != expect:
            raise Failure(f"answer:open:{expect[1] or 'ok'}", f"{actor}: {answer} {answer.body}")
        if not answer.ok:
            return
        iid, created = answer.body["inspection_id"], answer.body["created"]
        if created != (previous is None) or (previous and previous[0] != iid):
            raise Failure("open_repeat", f"{actor} {key}: {answer.body} after {previous}")
        self.starts[(f"{actor.role}:{actor.id}", key, enterprise)] = (iid, reason)
        self.last_start = (actor, enterprise, key, reason)
        insp = self.adopt(iid, enterprise)
        if created and v % 5 == 4:  # opened by mistake: cancelled at once, form or no form
            await self.act(insp, Step("cancel", variant=1))

    # ---- the inspection's actions --------------------------------------------------------
    def results_body(self, m: InspModel, v: int) -> dict[str, Any]:
        on_site = [c for c, i in m.form.items() if not i.automatic]
        todo = [c for c in on_site if c not in m.answered] or on_site or ["fire.exits"]
        first = todo[v % len(todo)]
        item = m.form.get(first)
        rank = ("minor", "major", "critical").index
        answers = sorted(item.answers.items(), key=lambda a: rank(a[1])) if item else []
        worst = answers[-1][0] if answers else "zz"
        mild = answers[0][0] if answers else "zz"
        shape = v % 12
        if shape <= 2:
            start = todo.index(first)
            chosen = todo[start : start + 1 + (v // 10) % 6]
            items = [{"item_code": c, "outcome": "pass"} for c in chosen]
            if (v // 100) % 3 == 0 and answers:
                answer = worst if (v // 300) % 2 else mild
                items[0] = {"item_code": first, "outcome": "hazard", "answer": answer}
        elif shape in (3, 10, 11):  # the rest of the form, maybe with a hazard
            items = [{"item_code": c, "outcome": "pass"} for c in todo]
            if shape > 3 and answers:
                answer = worst if shape == 11 else mild
                items[todo.index(first)] = {
                    "item_code": first,
                    "outcome": "hazard",
                    "answer": answer,
                }
        elif shape == 4:
            items = [{"item_code": first, "outcome": "pass"}] * 2
        elif shape == 5:
            items = [{"item_code": "fire.zz_unknown", "outcome": "pass"}]
        elif shape == 6:
            automatic = next(i.code for i in default_checklists().items if i.automatic)
            items = [{"item_code": automatic, "outcome": "pass"}]
        elif shape == 7:
            items = [{"item_code": first, "outcome": "hazard", "answer": "zz_nope"}]
        elif shape == 8:
            items = [
                {"item_code": first, "outcome": "hazard", "answer": worst, "severity": "minor"}
            ]
        elif shape == 9:  # the inspector raises a hazard to critical: the department hears at once
            items = [{"item_code": first, "outcome": "hazard", "answer": mild,
                      "severity": "critical"}]  # fmt: skip
        else:
            raise AssertionError(shape)
        return {"items": items}

    async def fold(self, insp: Insp) -> None:
        """The model catches up with the timeline (an accepted update has run already)."""
        view = await query(insp.handle, "view", InspectionView)
        self.learn_form(insp, view)
        try:
            for entry in view.timeline[insp.model.seq :]:
                insp.model.apply(entry)
        except ModelViolation as violation:
            raise Failure(f"timeline:{violation.kind}", str(violation)) from violation

    async def visit_through(self, insp: Insp, v: int) -> None:
        """The booked inspector's whole visit in one go: check-in, the form with a hazard
        (mild, the worst answer, or raised to critical), the finish."""
        shape = (10, 11, 9)[v % 3]
        for kind, variant in (("visit", 0), ("results", 12 * (12 * (v // 3) + shape)),
                              ("results", 12 * 3), ("finish", 0)):  # fmt: skip
            if insp.model.status not in ("scheduled", "visiting") or not insp.model.inspector:
                return
            await self.act(insp, Step(kind, variant=variant))
            await self.fold(insp)

    async def act(self, insp: Insp, step: Step) -> None:
        m, v = insp.model, step.variant
        iid = m.iid
        if step.kind == "through":
            await self.visit_through(insp, v)
            return
        if step.kind in ("repeat", "reuse"):
            if insp.last is None:
                return
            kind, path, actor, sent, key, previous = insp.last
            if step.kind == "reuse":  # the same key: another action, body or caller
                kinds = ["visit", "results", "finish", "cancel"]
                kind = kinds[v % 4]
                sent = {"visit": {}, "results": self.results_body(m, v), "finish": {"note": "x"},
                        "cancel": {"reason": "reused key"}}[kind]  # fmt: skip
                path = f"/inspections/{iid}/{kind}"
                if v % 5 == 0:
                    actor = self.someone(v // 5, m.inspector, m.enterprise, "fire")
            await self.send(insp, kind, path, actor, sent, key, previous)
            return
        department = next(iter(m.form.values())).department if m.form else "fire"
        actor = self.someone(v, m.inspector, m.enterprise, department)
        body: dict[str, Any] = {}
        if step.kind == "visit":
            body = {"location": {"lat": 30.74, "lon": 120.48}} if v % 2 else {}
        elif step.kind == "results":
            body = self.results_body(m, v // 12)
        elif step.kind == "finish":
            body = {"note": "检查完毕"} if v % 2 else {}
        elif step.kind == "cancel":
            actor = SUPERVISOR if v % 4 else actor
            body = {"reason": "企业停产"}
        path = f"/inspections/{iid}/{step.kind}"
        await self.send(insp, step.kind, path, actor, body, f"mdl-{uuid.uuid4().hex}", None)

    async def send(
        self, insp: Insp, kind: str, path: str, actor: Actor, body: dict[str, Any], key: str,
        previous: Answer | None,
    ) -> None:  # fmt: skip
        m = insp.model
        registered = set(self.inspectors)
        verdict = decide(m, kind, actor.role, actor.id, body, key, registered)
        answer = await self.door.post(path, actor, body, key)
        self.steps += 1
        if verdict.ok != answer.ok or (not verdict.ok and verdict.code != answer.code):
            raise Failure(
                f"answer:{kind}:{verdict.code or 'ok'}",
                f"{m.iid} ({m.status}, booked {m.inspector}) {kind} by {actor.role}:{actor.id} "
                f"{body}: model {verdict.code or 'ok'}, API {answer} {answer.body}",
            )
        if not answer.ok:
            return
        if key in m.receipts:
            if previous is not None and previous.ok and answer.body != previous.body:
                raise Failure("repeat_key", f"{m.iid}: {answer.body} vs {previous.body}")
            return
        m.receipts[key] = receipt_of(kind, actor.id, actor.role, body)
        if kind == "results":
            m.record(body["items"])
        insp.last = (kind, path, actor, body, key, answer)
