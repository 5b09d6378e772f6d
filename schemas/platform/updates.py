"""Human actions as Temporal updates: how a request's key becomes an update id.

Both sides use this: the workflows fingerprint an action's body to tell an exact repeat
from a reused key (``workflows.kit.ledger``), and the API derives the update id from the
same fingerprint (``services.temporal_gateway.run_update``). Pure functions over pydantic
models, so it is safe in workflow code.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from schemas.platform.common import HumanAction


class Update(StrEnum):
    """Every update name a workflow accepts, spelled once for the API, the bot and the
    workflows' declarations. The values are recorded in histories: never rename one."""

    ACCEPT_TASK = "accept_task"
    ADD_EVIDENCE = "add_evidence"
    CANCEL = "cancel"
    DECLINE_TASK = "decline_task"
    DEPARTMENT_ACCEPT = "department_accept"
    DEPARTMENT_EXTENSION = "department_extension"
    DEPARTMENT_REPORT = "department_report"
    DEPARTMENT_RETURN = "department_return"
    DECIDE_SUSPENSION = "decide_suspension"
    ESCALATE = "escalate"
    EXTEND_DEADLINE = "extend_deadline"
    FINISH_VISIT = "finish_visit"
    MERGE_INTO = "merge_into"
    REASSIGN = "reassign"
    RECORD_ENFORCEMENT = "record_enforcement"
    RECORD_RESULTS = "record_results"
    REINSPECT = "reinspect"
    REPORT_ARRIVED = "report_arrived"
    REPORT_RECOVERY = "report_recovery"
    REPORT_RESOLVED = "report_resolved"
    REQUEST_ESCALATION = "request_escalation"
    REQUEST_SUSPENSION = "request_suspension"
    RESUME_CASE = "resume_case"
    START_VISIT = "start_visit"
    SUBMIT_PROOF = "submit_proof"
    URGE = "urge"
    VERIFY = "verify"


def fingerprint(action: HumanAction) -> str:
    """A digest of what the action asks, without its key (pydantic's JSON is canonical for a
    given model: fields in declaration order)."""
    body = action.model_dump_json(exclude={"idempotency_key"})
    return hashlib.sha256(f"{type(action).__name__}:{body}".encode()).hexdigest()[:32]


def update_id(update: str, action: HumanAction) -> str:
    """The Temporal update id for an action: the key, scoped to update and body.

    Temporal answers a repeated update id with the stored result *without* asking the
    workflow, so the raw key as update id would let another caller's different action
    under the same key get the first answer. Scoped ids reach the validator, which
    refuses the reuse; an exact repeat keeps its id and gets Temporal's stored answer.
    """
    digest = hashlib.sha256(f"{update}:{fingerprint(action)}".encode()).hexdigest()[:16]
    return f"{action.idempotency_key}~{digest}"
