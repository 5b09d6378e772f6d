"""Rules the models encode that other engineers are implementing (issue 12, idempotency keys).

One flag per rule, one place: ``True`` expects the intended rule (the spec, the default),
``False`` the behaviour of the tree the harness was written on (commit 8fec5d5), so the
harness can be run before and after each fix is merged. After a merge, nothing needs to be
edited: the default already expects the fix. To run against a tree where a fix is not merged
yet, name the rule in ``GRIDPLUS_MODEL_AS_BUILT`` (comma-separated, or ``all``).

Where a flag is ``False`` and the as-built behaviour would break a workflow for good (the
head-escalation extension), the walker does not send that action at all (``skip``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Rules:
    """Which intended rules the model expects (see the module docstring)."""

    # loop (1): a department's extension after head escalation -> 409 escalated_to_head
    # (as built: accepted, then the workflow task fails forever: never sent then)
    head_escalation_extension: bool = True
    # loop (3): a reassign without a named steward never offers the case again to the
    # steward it was last offered to (as built: it may)
    reassign_excludes_last: bool = True
    # loop (3): naming a steward who cannot take the case -> 409 steward_unavailable
    # (as built: accepted, the nearest free steward gets it)
    reassign_named_unavailable: bool = True
    # loop (4): stewards holding an offer or a task hear `case_cancelled` when the case is
    # cancelled or merged; the confirming steward also gets `case_closed`
    cancel_messages: bool = True
    # loop (5): the projected waiting_for / deadline equal the live ones while a case rests
    projection_at_rest: bool = True
    # loop (6): a device-opened case records `filed` before `evidence_added`
    filed_first: bool = True
    # loop (2): the steward who confirmed on site verifies a result through the bot
    # (`verify_pass`/`verify_fail`) and is asked to (`verify_request`); the steward who took
    # the task, while the case is with stewards, hears `case_closed` (as built: the last
    # steward offered it hears `case_closed`, no verification buttons: not sent then)
    steward_verification: bool = True
    # keys: the same idempotency key with another caller, action or body on the same case
    # -> 409 idempotency_key_reused (as built: the stored answer of the first action)
    key_reuse_refused: bool = True

    # ---- defects this harness found in the case workflow, fixed behind case-loop-v3 ------
    # D1: on path `both`, the on-site confirmation's offer waits through `CaseOps.rest` too;
    # when its wait ends (the offer lapses, is answered) it clears `_resting` while the main
    # flow still rests, so the entries since are not projected until the main flow wakes
    # (as built: the projected timeline lags the workflow's while such a case rests)
    confirm_keeps_rest: bool = True
    # D2: a case that was with a department once and then goes to stewards again (a
    # supervisor's reassign) returns to the department without `escalated` when no steward
    # takes it (`fresh_department` stays False): its status stays `dispatched`/`accepted`,
    # the department gets no `new_case` message, and its accept/report/return are refused
    # with wrong_stage while the deadlines run out to head escalation
    # (as built: department stage entries under a steward status)
    department_again_escalates: bool = True


def rules_from_env(value: str | None = None) -> Rules:
    """``GRIDPLUS_MODEL_AS_BUILT``: rules (or ``all``) to expect as built, not as intended."""
    raw = os.environ.get("GRIDPLUS_MODEL_AS_BUILT", "") if value is None else value
    names = {name.strip() for name in raw.split(",") if name.strip()}
    known = {f.name for f in fields(Rules)}
    if "all" in names:
        names = known
    unknown = names - known
    if unknown:
        raise ValueError(f"GRIDPLUS_MODEL_AS_BUILT: unknown rules {sorted(unknown)}")
    return Rules(**{name: False for name in names})


RULES = rules_from_env()
