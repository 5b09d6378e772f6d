"""A lean open-loop HTTP/1.1 load generator on asyncio streams, for the device benchmark.

httpx spends about a millisecond of CPU per request; at a thousand detections a second on
a two-core machine that alone would be half a core taken from the server under test. This
client keeps a pool of keep-alive connections and writes prebuilt requests: ~0.1 ms each.
Latency is measured from the moment a request was *due* (open loop), so waiting for a free
connection counts against the server, as it would for a device.
"""

from __future__ import annotations

import asyncio
import contextlib
import time


class Pool:
    """Keep-alive connections to one ``host:port``; at most ``size`` at once."""

    def __init__(
        self, host: str, port: int, size: int = 256, content_type: str = "application/json"
    ) -> None:
        self.host, self.port, self.size = host, port, size
        self.content_type = content_type  # application/merge-patch+json: FastAPI's route
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self._open = 0

    async def _get(self, fresh: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """An idle connection, else a new one; ``fresh``: a new one (the idle ones may all
        have been closed by the server together)."""
        if not fresh:
            with contextlib.suppress(asyncio.QueueEmpty):
                return self._idle.get_nowait()
        if fresh or self._open < self.size:
            self._open += 1
            try:
                return await asyncio.open_connection(self.host, self.port)
            except OSError:
                self._open -= 1
                raise
        return await self._idle.get()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """One POST; (status, body). A keep-alive connection the server closed meanwhile
        (uvicorn closes idle ones after 5 s) is replaced once, by a new connection; other
        errors are raised."""
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {self.content_type}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        for attempt in range(2):
            reader, writer = await self._get(fresh=attempt > 0)
            try:
                writer.write(request)
                status_line = await reader.readline()
                if not status_line and attempt == 0:
                    raise ConnectionResetError("closed by the server while idle")
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                payload = await reader.readexactly(length) if length else b""
                status = int(status_line.split(b" ", 2)[1])
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                self._open -= 1
                writer.close()
                if attempt == 0:
                    continue
                raise
            self._idle.put_nowait((reader, writer))
            return status, payload
        raise ConnectionError("unreachable")

    async def close(self) -> None:
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()


async def open_loop(rate: float, seconds: float, fire: object) -> list[asyncio.Task[None]]:
    """Call ``fire(i, due)`` (an async function) at ``start + i / rate``, whatever happened
    before; returns the tasks (await them to collect)."""
    assert callable(fire)
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(i, due)))
    return tasks
