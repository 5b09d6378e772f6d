"""``InspectionCampaignWorkflow``: one round of joint inspections over many enterprises.

Started by hand (API) or by a Temporal schedule. The plan (an activity) lists the
enterprises high risk first and counts the inspectors on duty; the campaign keeps at most
``inspectors x lookahead`` inspections booked ahead, starting the next one whenever an
inspection reports its visit (a signal), so the round is paced by what inspectors can do
and high-risk enterprises get the earliest slots. Inspections are started in batches by an
activity (``activities.inspections.campaign``), not as children: they and their
rectifications outlive
the round, and the campaign continues as new (every ``continue_every`` starts, or when
Temporal suggests it) carrying nothing of theirs but their ids. Progress is a query and
the Web UI's current details.

A round is closed when its hazards are, not when its last visit is (patch ``campaign-v2``,
issue 13, C1). The linkage center runs a round to close the loop on what it finds (every
hazard rectified, escalated and enforced, or cancelled as recorded in error), and reads
the round's progress for exactly that: the visits done, the hazards still open. Before
the patch a round completed with its last visit, and the closings its inspections signal
afterwards found a closed workflow: the query, the Web UI's details and the search
attributes kept the count of that moment forever. Now, once every planned enterprise is
visited or cancelled, the round is ``rectifying`` (no deadline of its own: each hazard
has its own, and the party named by it) and goes on counting the ``hazard_closed``
signals, completing when the last hazard it found is closed; a round without hazards
completes with its last visit, as before. Rectifying rounds do not hold back the next
scheduled round (``services.inspections.operations.create_campaign_schedule``). Why not
keep counting in a completed round: a completed workflow takes no signal, and a round
reading its closings from the database would be a second source of truth for the query.
See docs/campaigns.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from workflows.kit.calls import call

# campaign-v2 (issue 13, C1): the round stays open, ``rectifying``, until the hazards it
# found are closed, counting their closings (the query and the Web UI agree with GET).
PATCH_CAMPAIGN_V2 = "campaign-v2"

with workflow.unsafe.imports_passed_through():
    from constants import (
        ACT_PLAN_CAMPAIGN,
        ACT_START_INSPECTIONS,
        SA_DEADLINE,
        SA_KIND,
        SA_OVERDUE,
        SA_STATUS,
        WF_CAMPAIGN,
    )
    from schemas.inspections.campaign import (
        CampaignCarry,
        CampaignFilter,
        CampaignInput,
        CampaignPlan,
        CampaignProgress,
        PlannedEnterprise,
        PlannedStart,
        StartBatch,
    )
    from schemas.inspections.workflow import InspectionProgress, StartInspection
    from schemas.platform.common import town_time


@workflow.defn(name=WF_CAMPAIGN)
class InspectionCampaignWorkflow:
    """One round of inspections; see the module docstring."""

    @workflow.init
    def __init__(self, inp: CampaignInput) -> None:
        self.inp = inp
        self.carry: CampaignCarry | None = inp.carry
        self.started_this_run = 0
        # campaign-v2: every visit made, hazards still open (a run continued as new in
        # that phase starts in it; before the patch no round continued as new once done)
        carry = self.carry
        self.rectifying = (
            carry is not None
            and carry.cursor >= len(carry.plan.enterprises)
            and not carry.in_flight
            and carry.hazards_closed < carry.hazards_found
        )
        self._visible: list[Any] | None = None

    @property
    def campaign_id(self) -> str:
        """The id in inspection ids: given, or derived from the scheduled start time."""
        if self.inp.campaign_id:
            return self.inp.campaign_id
        return "R" + workflow.info().start_time.strftime("%Y%m%d%H%M")

    @workflow.run
    async def run(self, inp: CampaignInput) -> CampaignProgress:
        if self.carry is None:
            self.carry = await self._plan(inp.filter)
        carry = self.carry
        self._sync()
        while True:
            await self._start_more(carry)
            if self._should_continue_as_new():
                await self._fresh_run(inp, carry)
            if carry.cursor >= len(carry.plan.enterprises) and not carry.in_flight:
                break
            target_end = carry.started_at + inp.target_window
            timeout = None if carry.overdue else max(target_end - workflow.now(), timedelta(0))
            try:
                await workflow.wait_condition(
                    lambda: not carry.in_flight or self._can_start(carry),
                    timeout=timeout,
                )
            except TimeoutError:
                carry.overdue = True
                self._sync()
        if workflow.patched(PATCH_CAMPAIGN_V2):
            await self._follow_hazards(inp, carry)
        self._sync(completed=True)
        return self.progress()

    async def _fresh_run(self, inp: CampaignInput, carry: CampaignCarry) -> None:
        """Continue as new (its handlers done first), carrying the round and nothing else."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            inp.model_copy(
                update={
                    "campaign_id": carry.campaign_id,
                    "carry": carry.model_copy(update={"runs": carry.runs + 1}),
                }
            )
        )

    async def _follow_hazards(self, inp: CampaignInput, carry: CampaignCarry) -> None:
        """campaign-v2: every visit made; count the closings until no hazard is open."""
        while carry.hazards_closed < carry.hazards_found:
            self.rectifying = True
            self._sync()
            await workflow.wait_condition(
                lambda: (
                    carry.hazards_closed >= carry.hazards_found
                    or workflow.info().is_continue_as_new_suggested()
                )
            )
            if carry.hazards_closed < carry.hazards_found:  # a long follow-up: a fresh run
                await self._fresh_run(inp, carry)
        self.rectifying = False

    async def _plan(self, where: CampaignFilter) -> CampaignCarry:
        started_at = workflow.now()
        plan: CampaignPlan = await call(ACT_PLAN_CAMPAIGN, where, CampaignPlan)
        limit = self.inp.max_in_flight or max(1, plan.inspectors * self.inp.lookahead_per_inspector)
        return CampaignCarry(
            campaign_id=self.campaign_id,
            started_at=started_at,
            plan=plan,
            max_in_flight=limit,
        )

    async def _start_more(self, carry: CampaignCarry) -> None:
        """Fill the free slots in plan order (high risk first): one activity per batch."""
        batch: list[PlannedEnterprise] = []
        while (
            carry.cursor + len(batch) < len(carry.plan.enterprises)
            and len(carry.in_flight) + len(batch) < carry.max_in_flight
            and self.started_this_run + len(batch) < self.inp.continue_every
        ):
            batch.append(carry.plan.enterprises[carry.cursor + len(batch)])
        if not batch:
            return
        now = workflow.now()
        items = [
            PlannedStart(
                inspection=StartInspection(
                    inspection_id=self._inspection_id(e),
                    enterprise_id=e.enterprise_id,
                    requested_by=self.inp.requested_by,
                    requested_at=now,
                    reason=self.inp.name,
                    campaign_id=carry.campaign_id,
                    campaign_workflow_id=workflow.info().workflow_id,
                ),
                grid_id=e.grid_id,
                risk_level=e.risk_level,
            )
            for e in batch
        ]
        # In flight before the start: an inspection may report before the activity returns.
        carry.in_flight.extend(item.inspection.inspection_id for item in items)
        carry.cursor += len(batch)
        self.started_this_run += len(batch)
        await call(
            ACT_START_INSPECTIONS,
            StartBatch(
                task_queue=workflow.info().task_queue,
                round_name=f"round {carry.campaign_id}",
                items=items,
            ),
            int,
        )
        self._sync()

    def _inspection_id(self, planned: PlannedEnterprise) -> str:
        assert self.carry is not None
        return f"JI-{planned.enterprise_id}-{self.carry.campaign_id}"

    @staticmethod
    def _can_start(carry: CampaignCarry) -> bool:
        return len(carry.in_flight) < carry.max_in_flight and carry.cursor < len(
            carry.plan.enterprises
        )

    def _should_continue_as_new(self) -> bool:
        assert self.carry is not None
        if self.carry.cursor >= len(self.carry.plan.enterprises):
            return False
        return (
            self.started_this_run >= self.inp.continue_every
            or workflow.info().is_continue_as_new_suggested()
        )

    # ---- signals from inspections ---------------------------------------------------
    @workflow.signal
    def inspection_progress(self, progress: InspectionProgress) -> None:
        carry = self.carry
        if carry is None:
            return
        if progress.stage == "hazard_closed":
            carry.hazards_closed += 1
        elif progress.inspection_id in carry.in_flight:
            carry.in_flight.remove(progress.inspection_id)
            if progress.stage == "cancelled":
                carry.cancelled += 1
            else:
                carry.visited += 1
                carry.hazards_found += progress.hazards
                carry.critical += progress.critical
                carry.separate_visits += progress.departments
                carry.visit_minutes += progress.visit_minutes
                started, finished = progress.visit_started_at, progress.visit_finished_at
                if started and (carry.first_visit_at is None or started < carry.first_visit_at):
                    carry.first_visit_at = started
                if finished and (carry.last_visit_at is None or finished > carry.last_visit_at):
                    carry.last_visit_at = finished
        self._sync()

    # ---- progress ------------------------------------------------------------------
    @workflow.query
    def progress(self) -> CampaignProgress:
        carry = self.carry
        name = self.inp.name
        if carry is None:
            return CampaignProgress(
                campaign_id=self.campaign_id, name=name, status="planning", planned=0,
                started=0, in_flight=0, visited=0, cancelled=0, hazards_found=0, hazards_open=0,
                hazards_closed=0, critical=0, joint_visits=0, separate_visits=0, visits_saved=0,
                inspectors=0, max_in_flight=0, started_at=None, first_visit_at=None,
                last_visit_at=None, round_time=None, target_end=None, overdue=False, runs=1,
                visit_minutes=0,
            )  # fmt: skip
        planned = len(carry.plan.enterprises)
        done = carry.cursor >= planned and not carry.in_flight
        return CampaignProgress(
            campaign_id=carry.campaign_id,
            name=name,
            status="rectifying" if self.rectifying else "completed" if done else "running",
            planned=planned,
            started=carry.cursor,
            in_flight=len(carry.in_flight),
            visited=carry.visited,
            cancelled=carry.cancelled,
            hazards_found=carry.hazards_found,
            hazards_open=carry.hazards_found - carry.hazards_closed,
            hazards_closed=carry.hazards_closed,
            critical=carry.critical,
            joint_visits=carry.visited,
            separate_visits=carry.separate_visits,
            visits_saved=carry.separate_visits - carry.visited,
            inspectors=carry.plan.inspectors,
            max_in_flight=carry.max_in_flight,
            started_at=carry.started_at,
            first_visit_at=carry.first_visit_at,
            last_visit_at=carry.last_visit_at,
            round_time=(carry.last_visit_at - carry.started_at) if carry.last_visit_at else None,
            target_end=carry.started_at + self.inp.target_window,
            overdue=carry.overdue,
            runs=carry.runs,
            visit_minutes=carry.visit_minutes,
        )

    def _sync(self, completed: bool = False) -> None:
        p = self.progress()
        status = "completed" if completed else p.status
        values: list[Any] = [status, p.overdue, p.visited, p.in_flight, p.hazards_closed]
        if values == self._visible:
            return
        self._visible = values
        updates: list[SearchAttributeUpdate[Any]] = [
            SA_KIND.value_set("campaign"),
            SA_STATUS.value_set(status),
            SA_OVERDUE.value_set(p.overdue),
            SA_DEADLINE.value_set(p.target_end)
            if p.target_end and not completed and status != "rectifying"
            else SA_DEADLINE.value_unset(),
        ]
        workflow.upsert_search_attributes(updates)
        round_time = f"{p.round_time.total_seconds() / 86400:.1f} days" if p.round_time else "-"
        workflow.set_current_details(
            f"**{status}** · {p.name} · round {p.campaign_id}\n\n"
            f"Visited {p.visited}/{p.planned} (in flight {p.in_flight}, cancelled {p.cancelled}) "
            f"with {p.inspectors} inspectors; target {town_time(p.target_end)}"
            f"{' — OVERDUE' if p.overdue else ''}.\n\n"
            f"Hazards found {p.hazards_found} ({p.critical} critical): {p.hazards_open} open, "
            f"{p.hazards_closed} closed. Round time so far {round_time}; "
            f"{p.joint_visits} joint visits instead of {p.separate_visits} separate ones."
        )
