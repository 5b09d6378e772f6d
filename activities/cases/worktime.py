"""The national calendar (and a steward team's roster) for running cases: one local activity,
answered from the database.

Why an activity: the calendar changes (a notice loaded in the autumn, a package upgrade)
while cases run; what a case computed its deadline with must be in its history, so replay
never depends on what the table or the package says today (docs/working-time.md).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from constants import ACT_CALENDAR_SLICE
from schemas.worktime import CalendarSlice
from schemas.worktime.policy import SliceAnswer, SliceRequest
from schemas.worktime.sources import UnknownYearError
from services.platform.db import SessionFactory
from services.worktime.calendar_store import slice_at
from services.worktime.rosters import team_roster


class WorktimeActivities:
    def __init__(self, session_factory: SessionFactory) -> None:
        self._sessions = session_factory

    @activity.defn(name=ACT_CALENDAR_SLICE)
    async def calendar_slice(self, request: SliceRequest) -> SliceAnswer:
        try:
            return await self.answer(request)
        except UnknownYearError as error:
            # Retrying would not make the package learn a year; the case falls back to
            # the wall clock for this stage and says so in its timeline.
            raise ApplicationError(str(error), type="UnknownYear", non_retryable=True) from error

    async def answer(self, request: SliceRequest) -> SliceAnswer:
        """The slice asked for; ``UnknownYearError`` past the years the calendar knows.

        Also answers the slice a reservation carries (``reserve-slice-v1``,
        ``activities.stewards.dispatch``)."""
        rules = request.rules
        if request.team is not None:  # a steward team: its own roster, else the default
            rules = await team_roster(self._sessions, request.team) or rules
            if rules.always_open or rules.days == "every_day":  # needs no national calendar
                return SliceAnswer(slice=CalendarSlice(rules=rules, years=[]))
        return SliceAnswer(slice=await slice_at(self._sessions, rules, request.at))
