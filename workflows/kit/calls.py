"""How every workflow calls its activities: one timeout and one retry policy for all I/O.

``call`` runs a regular activity (visible as pending in the Web UI, retried by the server);
``call_local`` a local activity, for writes of a few milliseconds on our own database: run
by this worker inside the workflow task, one marker event instead of three activity events.
Each workflow passes its own ``local_retry_threshold`` (past it a failing local activity
waits on a durable timer instead of holding the workflow task); changing one would change
that workflow's commands.

Never give up on I/O: a case or a hazard must not be lost because the database or a gateway
was down for an hour. Bad input is rejected with a non-retryable ``ApplicationError``
instead, which no retry policy retries.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

IO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
IO_TIMEOUT = timedelta(seconds=30)


async def call(name: str, arg: Any, result_type: Any = None) -> Any:
    """Run one activity by name with the I/O timeout and retry policy."""
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=IO_TIMEOUT,
        retry_policy=IO_RETRY,
    )


async def call_local(
    name: str, arg: Any, result_type: Any = None, *, local_retry_threshold: timedelta
) -> Any:
    """Run one short write by name as a local activity (see the module docstring)."""
    return await workflow.execute_local_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=IO_TIMEOUT,
        retry_policy=IO_RETRY,
        local_retry_threshold=local_retry_threshold,
    )
