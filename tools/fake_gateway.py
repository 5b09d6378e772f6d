"""A stand-in for the chat-bot gateway: a real HTTP server on loopback that takes our messages.

Tests and the steward simulator (``tools.steward_sim``) point ``GRIDPLUS_BOT_GATEWAY_URL``
at it. It checks each POST exactly as a real gateway must (signature and timestamp through
``services.stewards.bot.verify_signature``, with the shared bot secret, and de-duplication on the
``Idempotency-Key`` header: delivery over HTTP is at-least-once, since a worker that dies
after the gateway accepted a message but before it heard the 200 sends it again), records
what it accepted,
and can answer 503 to the first N requests, to prove that a gateway outage only delays a
message (Temporal retries the activity) and never loses or duplicates it.

Plain ``asyncio.start_server`` rather than uvicorn: no signal handlers are taken over, so it
runs inside pytest or inside the simulator's own SIGINT/SIGTERM handling, and it needs
nothing but the standard library to speak the bit of HTTP/1.1 that httpx sends.

    async with FakeGateway(secret) as gateway:          # a free port on 127.0.0.1
        settings = Settings(bot_gateway_url=gateway.url, ...)
        message = await gateway.wait_for(lambda m: m["case_id"] == case_id)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from services.stewards.bot import CallbackRejected, verify_signature

Message = dict[str, Any]

MAX_BODY = 1024 * 1024
log = logging.getLogger("fake_gateway")


class FakeGateway:
    """Receives signed messages; see the module docstring. An async context manager."""

    def __init__(
        self,
        secret: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fail_first: int = 0,
        on_message: Callable[[Message], None] | None = None,
    ) -> None:
        self.secret = secret
        self.host = host
        self.port = port
        self.on_message = on_message
        self.messages: list[Message] = []  # accepted, in order of arrival
        self.failed: list[Message] = []  # answered 503 on purpose
        self.refused: list[str] = []  # why a request was refused (bad signature...)
        self.repeats: list[Message] = []  # same Idempotency-Key again: answered, not relayed
        self._seen: set[str] = set()
        self._fail_left = fail_first
        self._fail_match: Callable[[Message], bool] | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/messages"

    def fail_next(self, count: int, match: Callable[[Message], bool] | None = None) -> None:
        """Answer 503 to the next ``count`` well-signed requests (those that ``match``)."""
        self._fail_left = count
        self._fail_match = match

    async def __aenter__(self) -> FakeGateway:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):  # idle keep-alive clients, too
                writer.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None

    async def wait_for(self, match: Callable[[Message], bool], seconds: float = 20) -> Message:
        """The first accepted message that ``match``es, waiting for it to arrive if need be."""
        async with asyncio.timeout(seconds), self._arrived:
            while True:
                for message in self.messages:
                    if match(message):
                        return message
                await self._arrived.wait()

    def received(self, match: Callable[[Message], bool]) -> list[Message]:
        return [m for m in self.messages if match(m)]

    # ---- HTTP ----------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: requests in turn until the client closes it (keep-alive)."""
        self._connections.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, headers, body = request
                status, answer = await self._handle(method, headers, body)
                payload = json.dumps(answer).encode()
                head = (
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                    "content-type: application/json\r\n"
                    f"content-length: {len(payload)}\r\n\r\n"
                )
                writer.write(head.encode() + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as error:
            log.debug("connection dropped: %s", error)
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle(
        self, method: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        if method != "POST":
            return 405, {"error": "POST only"}
        try:
            verify_signature(
                self.secret,
                headers.get("x-gridplus-timestamp"),
                headers.get("x-gridplus-signature"),
                body,
            )
            message: Message = json.loads(body)
        except CallbackRejected as rejected:
            self.refused.append(rejected.message)
            return rejected.status, {"error": rejected.message}
        except ValueError:
            self.refused.append("body is not JSON")
            return 400, {"error": "body is not JSON"}
        if self._fail_left > 0 and (self._fail_match is None or self._fail_match(message)):
            self._fail_left -= 1
            self.failed.append(message)
            return 503, {"error": "gateway unavailable (on purpose)"}
        key = headers.get("idempotency-key") or str(message.get("message_id", ""))
        if key and key in self._seen:
            # the contract of a gateway: a repeated Idempotency-Key is answered, not re-sent
            self.repeats.append(message)
            return 200, {"ok": True, "message_id": message.get("message_id"), "repeat": True}
        if key:
            self._seen.add(key)
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        if self.on_message is not None:
            self.on_message(message)
        return 200, {"ok": True, "message_id": message.get("message_id")}


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes] | None:
    """Method, lower-cased headers and body of the next request; None at a clean EOF.

    Raises ``ValueError`` (the connection is dropped) on what httpx never sends us.
    """
    line = await reader.readline()
    if not line:
        return None
    method = line.decode("latin-1").split(" ", 1)[0]
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise ValueError("chunked bodies are not supported")
    length = int(headers.get("content-length", "0"))
    if length > MAX_BODY:
        raise ValueError("body too large")
    return method, headers, await reader.readexactly(length)
