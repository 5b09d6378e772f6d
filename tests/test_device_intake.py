"""Camera-scale intake (issue 18): peppered keys and their cache, coalesced updates shared by
several API processes, and back-pressure that refuses instead of dropping or timing out.

Real app(s) over ASGI, the Temporal test server with the production worker, the test
database; two apps on one database and one Temporal stand for two API processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

from schemas.intake.tables import IntakeMerge
from services.intake.coalesce import MAX_UPDATES_PER_SECOND, Coalescer, detections_in
from services.intake.device_keys import SCHEME, DeviceAuthError, KeyCache
from services.intake.merge import MergeRegistry, camera_key, case_id_for
from services.platform.db import SessionFactory, utc
from services.platform.geo import GridIndex
from settings import Settings
from tests.device_support import (
    app_client,
    carried,
    detection,
    device,
    live,
    now,
    post,
    until,
    wait_no_rows,
    wait_rows,
)
from tests.support import count_rows, track

pytestmark = pytest.mark.usefixtures("worker", "off_duty")

PEPPER = "dev-only-device-key-pepper"  # the settings' default, as the test settings have it


def fast(settings: Settings, **changes: object) -> Settings:
    """The test settings with a quick coalescer (a flush every 0.2 s, of whatever waits)."""
    quick = {"intake_coalesce_seconds": 0.2, "intake_coalesce_batch": 1}
    return settings.model_copy(update=quick | changes)


@pytest.fixture
async def api(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(env, sessions, fast(settings)) as client:
        yield client


async def open_scene(
    api: httpx.AsyncClient, env: WorkflowEnvironment, sessions: SessionFactory, cam: object
) -> str:
    """Open a scene's case and wait until it is projected (then later detections coalesce)."""
    first = await post(api, cam, "detections", detection(event_id="open-0001"))  # type: ignore[arg-type]
    assert first.status_code == 202, first.text
    assert first.json()["outcome"] == "opened"
    case_id = track(first.json()["case_id"])
    sql = "SELECT count(*) FROM case_record WHERE case_id = :c"
    for _ in range(400):
        if await count_rows(sessions, sql, c=case_id):
            break
        await asyncio.sleep(0.05)
    return case_id


async def test_a_legacy_sha256_key_still_works_and_is_rehashed_with_the_pepper(
    api: httpx.AsyncClient, sessions: SessionFactory, grids: GridIndex
) -> None:
    cam = await device(sessions, grids, "G030")
    async with sessions() as session, session.begin():
        stored = (
            await session.execute(text("SELECT key_hash FROM device WHERE id = :d"), {"d": cam.id})
        ).scalar_one()
        assert stored.startswith(SCHEME)  # registered with the pepper
        legacy = hashlib.sha256(cam.key.encode()).hexdigest()
        await session.execute(
            text("UPDATE device SET key_hash = :h WHERE id = :d"), {"h": legacy, "d": cam.id}
        )
    response = await post(api, cam, "detections", detection(confidence=0.2))
    assert response.status_code == 202, response.text
    async with sessions() as session:
        now_stored = (
            await session.execute(text("SELECT key_hash FROM device WHERE id = :d"), {"d": cam.id})
        ).scalar_one()
    assert now_stored == stored  # rewritten to the peppered HMAC on first use
    wrong = await api.post(
        f"/devices/{cam.id}/detections", json=detection(), headers={"X-Device-Key": "y" * 43}
    )
    assert wrong.status_code == 401


async def test_key_cache_hits_refuses_wrong_keys_takes_rotation_and_stays_bounded(
    sessions: SessionFactory, grids: GridIndex
) -> None:
    cams = [await device(sessions, grids, "G031") for _ in range(3)]
    cache = KeyCache(PEPPER, seconds=60, size=2)
    for cam in cams:
        assert (await cache.authenticate(sessions, cam.id, cam.key)).id == cam.id
    assert len(cache._entries) == 2  # the least recently used went
    await cache.authenticate(sessions, cams[2].id, cams[2].key)
    assert cache.hits == 1
    with pytest.raises(DeviceAuthError):
        await cache.authenticate(sessions, cams[2].id, cams[1].key)
    # rotated (re-registered with a new key): the new key works at once, from the database
    rotated = await device(sessions, grids, "G031", device_id=cams[1].id)
    assert (await cache.authenticate(sessions, rotated.id, rotated.key)).id == rotated.id
    with pytest.raises(DeviceAuthError):
        await KeyCache("another-pepper", seconds=60).authenticate(sessions, cams[0].id, cams[0].key)


async def test_later_detections_are_coalesced_into_few_updates_across_two_api_processes(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    settings: Settings,
    grids: GridIndex,
) -> None:
    cam = await device(sessions, grids, "G032")
    case_id = await open_scene(api, env, sessions, cam)
    start = now() - timedelta(seconds=60)
    bodies = [
        detection(
            at=start + timedelta(seconds=i / 4), event_id=f"co-{i:04d}", confidence=0.8 + i / 1000
        )
        for i in range(120)
    ]
    async with app_client(env, sessions, fast(settings)) as second:
        answers = await asyncio.gather(
            *(post(api if i % 2 else second, cam, "detections", b) for i, b in enumerate(bodies))
        )
        assert {a.status_code for a in answers} == {202}
        assert {a.json()["case_id"] for a in answers} == {case_id}
        assert {a.json()["outcome"] for a in answers} == {"merged"}
        view = await until(env, case_id, lambda v: carried(v) == 121)
        await asyncio.sleep(1)  # both flushers ran again: nothing is sent twice
        view = await live(env, case_id)
    assert carried(view) == 121
    updates = [e for e in view.timeline if e.kind == "evidence_added"]
    assert len(updates) <= 20  # one update per flush and process (the opener filed the case)
    best = max(updates, key=lambda e: detections_in(e.note))
    assert best.note and "best confidence" in best.note
    pending = "SELECT count(*) FROM detection WHERE device_id = :d AND pending"
    assert await count_rows(sessions, pending, d=cam.id) == 0
    in_case = "SELECT count(*) FROM detection WHERE device_id = :d AND case_id = :c"
    assert await count_rows(sessions, in_case, d=cam.id, c=case_id) == 121


async def test_a_dead_flushers_claim_is_sent_once_by_another_under_the_same_update_id(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, grids: GridIndex
) -> None:
    cam = await device(sessions, grids, "G033")
    # no flusher in this app: the rows stay pending for the flushers made by hand below
    quiet = settings.model_copy(update={"intake_coalesce_seconds": 60})
    async with app_client(env, sessions, quiet) as api:
        api_app_flushed = await open_scene(api, env, sessions, cam)
        case_id = api_app_flushed
        answers = [
            await post(api, cam, "detections", detection(event_id=f"dead-{i:03d}"))
            for i in range(10)
        ]
        assert [a.json()["outcome"] for a in answers] == ["merged"] * 10
        dead = Coalescer(env.client, sessions, 60)
        claimed = await dead._claim()  # claimed, then the process "died" before sending
        ours = {bid: rows for bid, rows in claimed.items() if rows[0].case_id == case_id}
        assert len(ours) == 1
        [(bid, rows)] = ours.items()
        async with sessions() as session, session.begin():
            await session.execute(
                text("UPDATE detection SET batch_at = :t WHERE batch_id = :b"),
                {"t": datetime.now(UTC) - timedelta(minutes=5), "b": bid},
            )
        other = Coalescer(env.client, sessions, 60)
        assert await other.flush() >= 1
        assert await other._send(bid, rows) == 1  # sent again: Temporal applies it once
        view = await live(env, case_id)
    assert carried(view) == 11
    assert sum(e.kind == "evidence_added" for e in view.timeline) == 1


async def test_past_capacity_devices_get_503_with_retry_after_and_nothing_accepted_is_lost(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, grids: GridIndex
) -> None:
    cam = await device(sessions, grids, "G034")
    bodies = [detection(confidence=0.2, event_id=f"bp-{i:03d}") for i in range(40)]
    async with app_client(env, sessions, fast(settings, device_max_in_flight=2)) as api:
        answers = await asyncio.gather(*(post(api, cam, "detections", b) for b in bodies))
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {202, 503}
        refused = [b for b, a in zip(bodies, answers, strict=True) if a.status_code == 503]
        assert refused, "40 posts at once against a capacity of 2: some must be refused"
        assert all(a.headers["Retry-After"] == "1" for a in answers if a.status_code == 503)
        rows = "SELECT count(*) FROM detection WHERE device_id = :d"
        assert await count_rows(sessions, rows, d=cam.id) == statuses.count(202)
        for body in refused:  # the device retries later, one at a time: all accepted
            assert (await post(api, cam, "detections", body)).status_code == 202
    assert await count_rows(sessions, rows, d=cam.id) == 40


async def test_a_stalled_event_loop_refuses_posts_at_once_then_accepts_them_again(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, grids: GridIndex
) -> None:
    """The gate is by queueing time, not only by count: a process whose loop runs late (a
    stall stands in for a backlog of posts) refuses with 503 + Retry-After; once the loop
    is on time again, the same post (same event id) is accepted, and recorded once."""
    cam = await device(sessions, grids, "G036")
    rows = "SELECT count(*) FROM detection WHERE device_id = :d"
    # a backlog from one post on (half of 2 in flight), since this test posts one at a time
    lagging = fast(settings, device_max_queue_ms=20, device_max_in_flight=2)
    async with app_client(env, sessions, lagging) as api:
        await asyncio.sleep(0.05)  # the gate's tick is running
        refused = None
        for attempt in range(5):  # the late ticks must run before the post: try again
            for _ in range(2):  # late tick after tick: a backlog, not one long iteration
                time.sleep(0.3)  # noqa: ASYNC251 -- the loop stalls, deliberately
                await asyncio.sleep(0.001)
            body = detection(confidence=0.2, event_id=f"lag-{attempt:04d}")
            answer = await post(api, cam, "detections", body)
            if answer.status_code == 503:
                refused = body, answer
                break
        assert refused is not None, "a loop 300 ms late tick after tick must refuse posts"
        body, answer = refused
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["error"] == "unavailable"
        before = await count_rows(sessions, rows, d=cam.id)
        assert before == attempt  # the refused post left no row
        for _ in range(100):  # calm again: the device's retry goes through
            answer = await post(api, cam, "detections", body)
            if answer.status_code == 202:
                break
            await asyncio.sleep(0.05)
        assert answer.status_code == 202, answer.text
    assert await count_rows(sessions, rows, d=cam.id) == before + 1


async def test_a_case_is_sent_its_detections_once_enough_wait_or_the_oldest_waited_long(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, grids: GridIndex
) -> None:
    cam = await device(sessions, grids, "G035")
    quiet = settings.model_copy(update={"intake_coalesce_seconds": 60})
    async with app_client(env, sessions, quiet) as api:
        case_id = await open_scene(api, env, sessions, cam)

        async def post_some(n: int, tag: str) -> None:
            for i in range(n):
                body = detection(event_id=f"{tag}-{i:03d}")
                assert (await post(api, cam, "detections", body)).json()["outcome"] == "merged"

        flusher = Coalescer(env.client, sessions, 60, batch=5, max_wait=timedelta(minutes=10))
        await post_some(3, "few")
        await flusher.flush()
        assert carried(await live(env, case_id)) == 1  # 3 waiting, fewer than 5, all young
        await post_some(2, "enough")
        assert await flusher.flush() >= 1
        assert carried(await live(env, case_id)) == 6
        await post_some(2, "old")
        patient = Coalescer(env.client, sessions, 60, batch=5, max_wait=timedelta(0))
        assert await patient.flush() >= 1  # the oldest waited long enough
        view = await live(env, case_id)
    assert carried(view) == 8
    assert sum(e.kind == "evidence_added" for e in view.timeline) == 2


async def test_a_flush_sends_the_cases_waiting_longest_first_and_at_most_its_share(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, grids: GridIndex
) -> None:
    """Scenes opened together fall due together: a tick sends at most its share of the
    updates (``MAX_UPDATES_PER_SECOND``), the case waiting longest first, the rest next."""
    first, second = await device(sessions, grids, "G037"), await device(sessions, grids, "G038")
    quiet = settings.model_copy(update={"intake_coalesce_seconds": 60})
    async with app_client(env, sessions, quiet) as api:
        cases = [await open_scene(api, env, sessions, cam) for cam in (first, second)]
        for cam in (first, second):
            for i in range(2):
                body = detection(event_id=f"share-{i}")
                assert (await post(api, cam, "detections", body)).json()["outcome"] == "merged"
        tick = 5 / MAX_UPDATES_PER_SECOND  # seconds whose tick's share is one update
        flusher = Coalescer(env.client, sessions, tick, batch=1, max_wait=timedelta(minutes=10))
        assert await flusher.flush() == 1
        assert [carried(await live(env, case)) for case in cases] == [3, 1]
        assert await flusher.flush() == 1
        assert [carried(await live(env, case)) for case in cases] == [3, 3]


async def test_an_open_scenes_last_seen_moves_on_behind_the_post(
    api: httpx.AsyncClient, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    """A detection half a minute after the scene's last one moves the registry's
    ``last_at`` (when the scene's window ends), written behind the post, not in its path."""
    cam = await device(sessions, grids, "G039")
    await open_scene(api, env, sessions, cam)
    later = now() + timedelta(seconds=90)  # within the 5 minutes a device clock may run ahead
    body = detection(at=later, event_id="seen-0001")
    assert (await post(api, cam, "detections", body)).json()["outcome"] == "merged"
    query = select(col(IntakeMerge.last_at)).where(
        col(IntakeMerge.label).like(f"camera:{cam.id}:%")
    )
    for _ in range(100):
        async with sessions() as session:
            seen = utc(await session.scalar(query))
        if seen is not None and seen >= later - timedelta(milliseconds=1):
            break
        await asyncio.sleep(0.05)
    assert seen is not None and abs((seen - later).total_seconds()) < 0.001, seen


async def test_concurrent_lookups_of_an_expired_scene_read_it_once(
    api: httpx.AsyncClient, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    """Single flight: posts that find their scene's cached row expired wait on one read of
    it instead of each reading it (the refreshes that overflowed the pool in the bench)."""
    cam = await device(sessions, grids, "G036")
    case_id = await open_scene(api, env, sessions, cam)
    runtime = api._transport.app.state.gridplus.devices  # type: ignore[attr-defined]
    runtime._scenes.clear()  # every cached scene expired at once
    reads = runtime.scene_loader.reads
    answers = await asyncio.gather(
        *(post(api, cam, "detections", detection(event_id=f"sf-{i:03d}")) for i in range(20))
    )
    assert [a.json()["outcome"] for a in answers] == ["merged"] * 20
    assert {a.json()["case_id"] for a in answers} == {case_id}
    assert runtime.scene_loader.reads == reads + 1


async def test_concurrent_key_lookups_of_cold_devices_are_one_read(
    sessions: SessionFactory, grids: GridIndex
) -> None:
    cams = [await device(sessions, grids, "G037") for _ in range(5)]
    cache = KeyCache(PEPPER, seconds=60)
    lookups = [cache.authenticate(sessions, cam.id, cam.key) for cam in cams for _ in range(4)]
    wrong = cache.authenticate(sessions, cams[0].id, cams[1].key)
    found = await asyncio.gather(*lookups, wrong, return_exceptions=True)
    assert [d.id for d in found[:-1]] == [cam.id for cam in cams for _ in range(4)]  # type: ignore[union-attr]
    assert isinstance(found[-1], DeviceAuthError)
    loader = cache._loader
    assert loader is not None
    assert (loader.reads, loader.keys) == (1, 5)  # one query for the five devices


async def test_a_sensors_repeated_alarms_reach_its_case_coalesced_until_it_recovers(
    api: httpx.AsyncClient, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    """A sensor re-alarming while its case is open costs database writes, not one update
    each; an alarm after a recovery takes the per-report path, which notes that the
    recovery no longer holds (so the flap stays one case)."""
    sensor = await device(sessions, grids, "G041", "smoke_detector")
    t0 = now() - timedelta(minutes=5)

    async def event(kind: str, i: int, value: float | None = None) -> dict[str, Any]:
        body = {"event": kind, "occurred_at": (t0 + timedelta(seconds=i)).isoformat(),
                "event_id": f"{kind}-{i:03d}", "value": value}  # fmt: skip
        answer = await post(api, sensor, "events", body)
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    opened = await event("alarm", 0, 0.2)
    assert opened["outcome"] == "opened"
    case_id = track(opened["case_id"])
    projected = "SELECT count(*) FROM case_record WHERE case_id = :c"
    assert await wait_rows(sessions, 1, projected, c=case_id) == 1
    answers = [await event("alarm", i, 0.2 + i / 10) for i in range(1, 6)]
    assert {(a["outcome"], a["case_id"]) for a in answers} == {("merged", case_id)}
    view = await until(env, case_id, lambda v: carried(v) == 6)
    added = [e for e in view.timeline if e.kind == "evidence_added"]
    assert added and all(e.note and " alarms " in e.note for e in added)
    assert all(e.evidence[0].kind == "sensor" for e in added)
    assert any("highest reading 0.7" in (e.note or "") for e in added)
    waiting = "SELECT count(*) FROM detection WHERE device_id = :d AND pending"
    # marked sent a moment after the update returned
    assert await wait_no_rows(sessions, waiting, within=5, d=sensor.id) == 0

    assert (await event("recovery", 6))["outcome"] == "recovered"
    again = await event("alarm", 7, 0.5)
    assert (again["outcome"], again["case_id"]) == ("merged", case_id)
    alarming = "SELECT count(*) FROM intake_merge WHERE label LIKE :l AND recovered_at IS NULL"
    assert await count_rows(sessions, alarming, l=f"sensor:{sensor.id}:%") == 1
    direct = "SELECT count(*) FROM detection WHERE event_id = 'alarm-007' AND NOT pending"
    assert await count_rows(sessions, direct) == 1  # sent as its own update, not coalesced


async def test_a_scene_whose_opener_died_before_starting_its_case_starts_it_with_the_next(
    api: httpx.AsyncClient, env: WorkflowEnvironment, sessions: SessionFactory, grids: GridIndex
) -> None:
    """The opener writes the scene's registry row, then starts the case; dying between the
    two leaves a row with no workflow. The scene's next detection must not be recorded for
    a case that does not exist: it takes the per-report path and starts the case."""
    cam = await device(sessions, grids, "G042")
    key = camera_key(cam.id, "illegal_parking", cam.at, cam.at, None)
    await MergeRegistry(sessions).current(key, now() - timedelta(seconds=5), "dev:died:e-0001")
    answer = await post(api, cam, "detections", detection(event_id="after-death"))
    assert answer.status_code == 202, answer.text
    assert (answer.json()["outcome"], answer.json()["case_id"]) == ("merged", case_id_for(key, 1))
    case_id = track(answer.json()["case_id"])
    view = await until(env, case_id, lambda v: carried(v) == 1)
    assert [e.kind for e in view.timeline][:1] == ["filed"]
    assert not view.timeline[0].evidence  # filed by the update-with-start, evidence from it
    pending = "SELECT count(*) FROM detection WHERE device_id = :d AND pending"
    assert await count_rows(sessions, pending, d=cam.id) == 0
