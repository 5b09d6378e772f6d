"""A test-only workflow that uses working time as the case workflow will: its slice comes in
the input, the clock is `workflow.now()`, and it waits with a timer until the deadline.

Kept apart from the tests so the strict sandbox re-imports only this and schemas.worktime.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from schemas.worktime import CalendarSlice, HorizonError, add_working, is_working


class DeadlineInput(BaseModel):
    slice: CalendarSlice
    span: timedelta


class DeadlineResult(BaseModel):
    started: datetime
    due: datetime
    woke: datetime
    version: str
    open_when_woken: bool


@workflow.defn(sandboxed=True)
class WorkingDeadlineWorkflow:
    @workflow.run
    async def run(self, request: DeadlineInput) -> DeadlineResult:
        started = workflow.now()
        try:
            due = add_working(request.slice, started, request.span)
        except HorizonError as error:
            # Raised as is it would fail the workflow *task* forever; the case workflow
            # will ask an activity instead. Here it ends the run, visibly.
            raise ApplicationError(str(error), type="HorizonError", non_retryable=True) from error
        await workflow.sleep(due - started)
        woke = workflow.now()
        return DeadlineResult(
            started=started,
            due=due,
            woke=woke,
            version=request.slice.version,
            open_when_woken=is_working(request.slice, due - timedelta(microseconds=1)),
        )
