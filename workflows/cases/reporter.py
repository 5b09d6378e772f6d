"""The reporter hears back (issue 16, patch ``reporter-v1``).

A steward who reported a case (through the bot or the API) is told when it is resolved
and when it is closed, by a message of its own kind (``report_resolved``,
``report_closed``) naming the case. Citizens read the same news through Open311's status
(the projection), so nothing is queued for them here.

One hook per moment, called from the case loop; each decides under
``workflow.patched(PATCH_REPORTER)``, so cases started before the patch replay without
the new message, and cases after it record the marker and send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import workflow

from schemas.cases.dispatch import StewardMessageKind

if TYPE_CHECKING:
    from workflows.cases.loop import CaseLoop

PATCH_REPORTER = "reporter-v1"


def tell_reporter(case: CaseLoop, kind: StewardMessageKind) -> None:
    """Queue ``kind`` to the reporting steward (others: nothing; see the module)."""
    reporter = case.state.inp.reporter
    if reporter.role != "steward" or not workflow.patched(PATCH_REPORTER):
        return
    case.tell(reporter.id, kind)
