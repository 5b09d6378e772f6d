"""The API's own view of a step's latency: its request histogram, read before and after.

The benchmark's p50/p99 run from when each post was *due* to its answer, so they include
everything on the way: the load generator's own lateness on a busy machine, the kernel's
queues and uvicorn's parsing before the app sees the request. The API's histogram
(``gridplus_http_request_duration_seconds``, ``api.metrics``) starts when the app gets the
request. Side by side they say where a tail is: in the app's work, or before it.
"""

from __future__ import annotations

import math
from collections import defaultdict

import httpx
from prometheus_client.parser import text_string_to_metric_families

FAMILY = "gridplus_http_request_duration_seconds"
Buckets = dict[float, float]  # upper bound (seconds) -> cumulative count


async def device_posts(port: int) -> Buckets:
    """Cumulative histogram of the device posts the API answered 202, so far."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    buckets: Buckets = defaultdict(float)
    for family in text_string_to_metric_families(text):
        if family.name != FAMILY:
            continue
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_bucket")
                and labels.get("method") == "POST"
                and labels.get("route", "").startswith("/devices/")
                and labels.get("status") == "202"
            ):
                buckets[float(labels["le"])] += sample.value
    return dict(buckets)


def describe(before: Buckets, after: Buckets) -> str:
    """Share answered within 100 ms and the bucket holding the p99, between two reads."""
    diff = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in sorted(after)}
    total = diff.get(math.inf, 0.0)
    if total <= 0:
        return "in the API: no device post answered"
    p99 = next(le for le, n in diff.items() if n >= 0.99 * total)
    bound = "over 30 s" if math.isinf(p99) else f"<= {p99 * 1000:.0f} ms"
    return (
        f"in the API (from the app's start of each request): {diff.get(0.1, 0.0) / total:.1%} "
        f"within 100 ms, p99 {bound}"
    )
