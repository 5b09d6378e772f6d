"""What a case remembers of its suspension (缓办): pure data for ``CaseState``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.cases.suspension import SuspensionRequest
from schemas.cases.workflow import CaseStatus
from workflows.kit.waiting import Deadline


@dataclass
class Suspension:
    """A request, and once approved, what the stopped clock still owed."""

    request: SuspensionRequest
    approved: bool = False
    since: datetime | None = None
    status_before: CaseStatus = "escalated"
    deadline: Deadline | None = None  # the stage deadline it stopped
    remaining: timedelta = timedelta(0)  # of that limit, on its clock
    warn_remaining: timedelta | None = None  # to its warning, unless already warned
