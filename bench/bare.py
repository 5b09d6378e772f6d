"""The ceiling's workload: a bare workflow with one no-op activity (Temporal's floor cost)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench_noop")
async def noop(n: int) -> int:
    return n


@workflow.defn(name="BenchBareWorkflow")
class BareWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        result: int = await workflow.execute_activity(
            "bench_noop", n, result_type=int, start_to_close_timeout=timedelta(seconds=30)
        )
        return result
