"""One Idempotency-Key, one request: fingerprints of create bodies, kept in the memo.

Ids of cases, inspections and rounds come from the caller's key, so a repeated create
finds the workflow already started. That is the right answer only for the *same* request:
the same key with another body must not silently return the first case (Stripe's rule,
which the lead chose for the whole API). The body's digest goes into the workflow's memo
at start (no command of the workflow changes, old runs have none and are answered as
before), and a start that meets an existing workflow compares it: same digest, the stored
answer (``created: false``); another digest, ``ActionRefused("idempotency_key_reused")``,
a 409 that changes nothing.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError

MEMO_KEY = "gp_request"
REUSED = "idempotency_key_reused"


def request_fingerprint(*parts: BaseModel | str) -> str:
    """Digest of what a create asks (its body, plus whatever else names the request)."""
    text = "\x1f".join(p if isinstance(p, str) else p.model_dump_json() for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def memo(fingerprint: str | None) -> dict[str, str]:
    return {MEMO_KEY: fingerprint} if fingerprint else {}


async def stored_fingerprint(client: Client, workflow_id: str) -> str | None:
    """The digest a workflow was started with; None for runs started before there was one."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    try:
        response = await client.workflow_service.describe_workflow_execution(request)
    except RPCError:
        return None  # gone (retention): nothing to compare against
    payload = response.workflow_execution_info.memo.fields.get(MEMO_KEY)
    if payload is None:
        return None
    value = client.data_converter.payload_converter.from_payload(payload, str)
    return value if isinstance(value, str) else None


async def same_request(client: Client, workflow_id: str, fingerprint: str | None) -> bool:
    """Whether a start that found ``workflow_id`` taken repeats the request that took it."""
    if fingerprint is None:
        return True
    stored = await stored_fingerprint(client, workflow_id)
    return stored is None or stored == fingerprint
