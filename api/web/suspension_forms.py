"""What the suspension (缓办, issue 15) forms of the case page need: ask, decide, resume.

Their rows in ``api.web.case_forms.ACTIONS`` run the very updates the JSON routes of
``api.routers.suspension`` run (``Update.REQUEST_SUSPENSION``, ``DECIDE_SUSPENSION``,
``RESUME_CASE``) with the same body models. Only the department holding the case may ask:
the workflow lets the holder ask (a department, or the steward on a steward's case), never
the center, which decides. Where a request stands is read from the timeline the page already
has (the last suspension entry), so no new field is needed on ``CaseView``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from schemas.cases.suspension import RefusalReason, SuspensionReason
from schemas.cases.views import CaseView

SUSPENSION_KINDS = ("suspension_requested", "suspended", "suspension_refused", "resumed")
REASON_CODES: tuple[str, ...] = get_args(SuspensionReason)
REFUSAL_CODES: tuple[str, ...] = get_args(RefusalReason)


def suspension_state(view: CaseView) -> str | None:
    """``requested`` (the center must decide), ``suspended`` (the clock stops) or None."""
    for entry in reversed(view.timeline):
        if entry.kind in SUSPENSION_KINDS:
            if entry.kind == "suspension_requested":
                return "requested"
            return "suspended" if entry.kind == "suspended" else None
    return None


@dataclass(frozen=True)
class AskedSuspension:
    """A pending or approved suspension's request, as the page shows it."""

    reason_code: str
    reason: str
    resume_on: datetime | None
    resume_condition: str | None


def suspension_request(view: CaseView) -> AskedSuspension | None:
    """The request behind a pending or approved suspension (from its timeline entry), for
    the page to show the one who decides or waits."""
    if suspension_state(view) is None:
        return None
    asked = [e for e in view.timeline if e.kind == "suspension_requested"]
    if not asked:
        return None
    data = asked[-1].data
    when = data.get("resume_on")
    return AskedSuspension(
        data.get("reason_code", "other"),
        asked[-1].note or "",
        datetime.fromisoformat(when) if when else None,
        data.get("resume_condition"),
    )
