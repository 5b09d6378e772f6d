"""Group commit for ``detection`` rows: many posts, one transaction, one multi-row insert.

A burst of a thousand detections a second cannot afford a transaction each (on SQLite every
commit is a fsync; on PostgreSQL a round trip and a WAL flush). Each post hands its row to
``DetectionWriter.write`` and waits for the commit that carries it: whatever is queued when
the writer is free goes in one ``INSERT .. VALUES (..), (..) ON CONFLICT DO NOTHING
RETURNING``. The post is answered only once its row is committed, so nothing accepted is
lost; a failed commit fails every post in it (503, the device retries with the same event
id, and the unique ``(device_id, event_id)`` keeps the retry from counting twice).

``pending`` is how many rows wait: past ``max_pending`` the API refuses new posts (503 +
``Retry-After``) instead of letting them wait into a device's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from schemas.intake.tables import Detection
from services.platform.db import SessionFactory, upsert_insert

# Rows per INSERT: below SQLAlchemy's "insertmanyvalues" page (1,000), so a batch is one
# statement, atomic without a transaction of its own (on PostgreSQL the writer runs in
# autocommit: ``services.intake.database``), and 500 x 16 parameters stay far below
# PostgreSQL's 32,767.
MAX_BATCH = 500


class DetectionWriter:
    """One writer task per API process; ``write`` returns whether the row was new."""

    def __init__(self, sessions: SessionFactory, max_batch: int = MAX_BATCH) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._queue: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0
        self.rows = 0
        self._compiled: Any = None

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="detection-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        while self._queue:
            await self._flush()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def write(self, values: dict[str, Any]) -> bool:
        """Queue a row and wait for its commit; False if ``(device_id, event_id)`` existed."""
        if self._task is None:  # not started (a script, a test without the lifespan)
            return await self._insert([values]) == {(values["device_id"], values["event_id"])}
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((values, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._flush()

    async def _flush(self) -> None:
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        # the same event twice in one batch: the first row is written, both see its answer
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for values, _ in batch:
            rows.setdefault((values["device_id"], values["event_id"]), values)
        try:
            inserted = await self._insert(list(rows.values()))
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        claimed: set[tuple[str, str]] = set()
        for values, future in batch:
            ident = (values["device_id"], values["event_id"])
            new = ident in inserted and ident not in claimed
            claimed.add(ident)
            if not future.done():
                future.set_result(new)

    async def _insert(self, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        # executemany of one statement: compiled once, sent by SQLAlchemy's "insertmanyvalues"
        # as multi-row INSERTs with RETURNING (a VALUES list built per batch size would be
        # compiled again for every size: ~20 ms each)
        async with self._sessions() as session, session.begin():
            result = await session.execute(self._statement(session.get_bind().dialect.name), rows)
            inserted = {(row[0], row[1]) for row in result}
        self.commits += 1
        self.rows += len(inserted)
        return inserted

    def _statement(self, dialect: str) -> Any:
        if self._compiled is None:
            insert = upsert_insert(dialect)
            self._compiled = (
                insert(Detection.__table__)  # type: ignore[attr-defined]
                .on_conflict_do_nothing(index_elements=["device_id", "event_id"])
                .returning(Detection.device_id, Detection.event_id)
            )
        return self._compiled
