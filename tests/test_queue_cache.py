"""The center queue's counts cache (issue 17): counts seconds old, the list always current.

On the real database: a case stored while the counts are cached does not change them
until the cache's time has passed, yet it is in the chosen bucket's list at once; another
scope or filter is counted on its own. The page with the cache on says so. Identical list
reads arriving together share one read, and nothing of it is kept. The statements are
built once and reused, so "granted in the last week" is reckoned when each one runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import inspect
from temporalio.testing import WorkflowEnvironment

from services.platform.db import SessionFactory
from services.supervision import queue as queues
from services.supervision.queue_cache import MAX_ENTRIES, STALE_FACTOR, CountsCache, InFlight
from services.supervision.scope import scope_for
from settings import Settings
from tests.queue_support import event, record, store
from tests.web_support import new_account, running_app, sign_in


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_counts_are_reused_for_a_few_seconds_and_the_list_is_read_now(
    sessions: SessionFactory,
) -> None:
    clock = Clock()
    cache = CountsCache(5, clock=clock)
    town = queues.QueueFilter()
    g001 = queues.QueueFilter(grid_id="G001")
    async with sessions() as session:
        first = await queues.center_queue(session, town, "returned", cache=cache)
        first_g001 = await queues.center_queue(session, g001, "returned", cache=cache)
    case = record("G001", "returned", handler="steward")
    await store(sessions, [case])

    clock.now += 4
    async with sessions() as session:
        cached = await queues.center_queue(session, town, "returned", limit=5000, cache=cache)
        uncached = await queues.center_queue(session, town, "returned", limit=5000)
    assert cached.counts == first.counts and cached.as_of == first.as_of
    assert case.case_id in {c.case_id for c in cached.cases}  # the list is current
    assert uncached.counts["returned"] == first.counts["returned"] + 1

    clock.now += 1  # five seconds: counted again, for each filter on its own
    scoped = queues.QueueFilter(scope=scope_for(False, ["G001"]))
    async with sessions() as session:
        fresh = await queues.center_queue(session, town, "returned", cache=cache)
        fresh_g001 = await queues.center_queue(session, g001, "verify", cache=cache)
        in_scope = await queues.center_queue(session, scoped, "returned", cache=cache)
    assert fresh.counts["returned"] == first.counts["returned"] + 1
    assert fresh.as_of > first.as_of
    assert fresh_g001.counts["returned"] == first_g001.counts["returned"] + 1
    assert fresh_g001.bucket == "verify"
    assert in_scope.counts["returned"] == fresh_g001.counts["returned"]


def test_a_zero_cache_keeps_nothing_and_a_full_one_drops_the_oldest() -> None:
    clock = Clock()
    off = CountsCache(0, clock=clock)
    off.put("k", {"returned": 1}, datetime.now(UTC))
    assert off.get("k") is None
    cache = CountsCache(5, clock=clock)
    for n in range(MAX_ENTRIES + 1):
        cache.put(n, {"returned": n}, datetime.now(UTC))
    assert cache.get(0) is None
    kept = cache.get(MAX_ENTRIES)
    assert kept is not None and kept[0] == {"returned": MAX_ENTRIES}


async def test_loads_that_miss_together_share_one_count() -> None:
    cache, started, release = CountsCache(5), asyncio.Event(), asyncio.Event()
    runs: list[int] = []

    async def count() -> tuple[dict[str, int], datetime]:
        runs.append(1)
        started.set()
        await release.wait()
        return {"returned": len(runs)}, datetime.now(UTC)

    first = asyncio.create_task(cache.shared("town", count))
    await started.wait()
    others = [asyncio.create_task(cache.shared("town", count)) for _ in range(19)]
    await asyncio.sleep(0)
    release.set()
    answers = await asyncio.gather(first, *others)
    assert runs == [1] and all(counts == {"returned": 1} for counts, _ in answers)

    async def broken() -> tuple[dict[str, int], datetime]:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        await cache.shared("G001", broken)
    assert cache.get("G001") is None  # a failure is not kept
    assert (await cache.shared("G001", count))[0] == {"returned": 2}


async def test_expired_counts_are_shown_while_one_refresh_runs_behind() -> None:
    clock, release = Clock(), asyncio.Event()
    cache = CountsCache(5, clock=clock)
    counted: list[str] = []

    async def count() -> tuple[dict[str, int], datetime]:
        counted.append("in front")
        return {"returned": len(counted)}, datetime.now(UTC)

    async def refresh() -> tuple[dict[str, int], datetime]:
        counted.append("behind")
        await release.wait()
        return {"returned": 100}, datetime.now(UTC)

    assert (await cache.shared("town", count, refresh))[0] == {"returned": 1}
    clock.now += 6  # expired, young enough to show: ten loads get it at once, one refresh
    answers = [await cache.shared("town", count, refresh) for _ in range(10)]
    assert all(counts == {"returned": 1} for counts, _ in answers)
    await asyncio.sleep(0)
    assert counted == ["in front", "behind"]
    release.set()
    for _ in range(100):
        if cache.get("town") is not None:
            break
        await asyncio.sleep(0)
    assert (await cache.shared("town", count, refresh))[0] == {"returned": 100}
    clock.now += 5 * STALE_FACTOR  # too old to show: the load counts in front again
    assert (await cache.shared("town", count, refresh))[0] == {"returned": 3}
    assert counted == ["in front", "behind", "in front"]


async def test_identical_reads_arriving_together_share_one_and_nothing_is_kept() -> None:
    reads: InFlight[list[str]] = InFlight()
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[int] = []

    async def read() -> list[str]:
        runs.append(1)
        answer = [f"read {len(runs)}"]
        started.set()
        await release.wait()
        return answer

    first = asyncio.create_task(reads.shared(("town", "returned"), read))
    await started.wait()
    others = [asyncio.create_task(reads.shared(("town", "returned"), read)) for _ in range(19)]
    other_key = asyncio.create_task(reads.shared(("town", "verify"), read))
    await asyncio.sleep(0)
    release.set()
    answers = await asyncio.gather(first, *others)
    assert all(answer == ["read 1"] for answer in answers)
    assert await other_key == ["read 2"]  # another list is read on its own
    assert runs == [1, 1]
    assert await reads.shared(("town", "returned"), read) == ["read 3"]  # nothing kept

    async def broken() -> list[str]:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        await reads.shared(("town", "returned"), broken)
    assert await reads.shared(("town", "returned"), read) == ["read 4"]


async def test_extensions_count_for_a_week_reckoned_when_the_statement_runs(
    sessions: SessionFactory,
) -> None:
    town = queues.QueueFilter(grid_id="G009")
    async with sessions() as session:  # the statements are built (and kept) here
        before = await queues.center_queue(session, town, "extension", limit=5000)
    now = datetime.now(UTC)
    recent = record("G009", "department_handling")
    old = record("G009", "department_handling")
    await store(
        sessions,
        [recent, old],
        [
            event(
                recent.case_id,
                1,
                "extension_granted",
                "department_handling",
                now - timedelta(days=6),
            ),
            event(
                old.case_id, 1, "extension_granted", "department_handling", now - timedelta(days=8)
            ),
        ],
    )
    async with sessions() as session:
        after = await queues.center_queue(session, town, "extension", limit=5000)
    listed = {c.case_id for c in after.cases}
    assert recent.case_id in listed and old.case_id not in listed
    assert after.counts["extension"] == before.counts["extension"] + 1


async def test_the_timeline_buckets_have_their_index(sessions: SessionFactory) -> None:
    """Migration 0024: case_event (kind, at, case_id), so the head-escalated, extension and
    no-steward buckets are answered from the index alone on PostgreSQL."""
    async with sessions() as session:
        connection = await session.connection()
        indexes = await connection.run_sync(lambda sync: inspect(sync).get_indexes("case_event"))
    columns = {index["name"]: index["column_names"] for index in indexes}
    assert columns.get("ix_case_event_kind_at") == ["kind", "at", "case_id"]


@pytest.fixture
async def cached_app(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.ASGITransport]:
    on = settings.model_copy(update={"queue_counts_cache_seconds": 5.0})
    async with running_app(on, env, sessions) as transport:
        yield transport


async def test_the_page_says_its_counts_may_be_seconds_old(
    cached_app: httpx.ASGITransport, sessions: SessionFactory
) -> None:
    async with httpx.AsyncClient(transport=cached_app, base_url="http://gridplus") as web:
        await sign_in(web, await new_account(sessions, all_grids=True))
        web.cookies.set("gridplus_lang", "en")
        before = await web.get("/web/queue?bucket=returned")
        assert "at most every 5 seconds" in before.text
        case = record("G002", "returned", handler="steward")
        await store(sessions, [case])
        after = await web.get("/web/queue?bucket=returned")
        assert case.case_id in after.text  # the list is read on every load
        web.cookies.set("gridplus_lang", "zh")
        assert "统计至多每 5 秒更新一次" in (await web.get("/web/queue")).text


async def test_one_grouped_count_fills_the_scope_and_each_of_its_grids(
    sessions: SessionFactory,
) -> None:
    await store(
        sessions,
        [
            record("G001", "returned", handler="steward"),
            record("G002", "returned", handler="steward"),
            record("G002", "resolved", handler="steward"),
        ],
    )
    cache = CountsCache(5, clock=Clock())
    async with sessions() as session:
        town = await queues.center_queue(session, queues.QueueFilter(), "verify", cache=cache)
        for grid in ("G001", "G002"):
            kept = cache.get(queues.QueueFilter(grid_id=grid))  # filled by the town's count
            plain = await queues.center_queue(session, queues.QueueFilter(grid_id=grid), "verify")
            assert kept is not None and kept[0] == plain.counts and kept[1] == town.as_of
            assert plain.counts["returned"] >= 1
        uncached = await queues.center_queue(session, queues.QueueFilter(), "verify")
    assert town.counts == uncached.counts
