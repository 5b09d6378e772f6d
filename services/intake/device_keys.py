"""Device keys: a keyed hash (HMAC-SHA256 with a server pepper) and a bounded cache.

Keys are 32 random bytes (256 bits): nothing to brute-force, so a password KDF per request
would only burn CPU on every detection of a burst. A keyed hash with a server-side pepper
(``GRIDPLUS_DEVICE_KEY_PEPPER``) means a stolen ``device`` table alone does not even let
anyone check a guessed key. Stored form: ``hmac1$<base64url>`` (49 characters, fits the
column); a bare hex digest is the plain SHA-256 of earlier versions, still accepted and
rewritten to ``hmac1$`` on the device's first successful post (no migration, no flag day).

The cache maps a device id to the row it authenticated as, with the stored hash it was
checked against, for ``device_auth_cache_seconds`` (jittered, so entries filled together
expire apart): a burst costs one read per device, not one per detection, and the devices
due are read together (``BatchLoader``: one query, one read in flight per device). A key
that does not match the cached hash is always checked against the database again (a
rotated key works at once); a deactivated or rotated-away key keeps working in other API
processes for at most the cache's lifetime.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlmodel import col

from schemas.intake.tables import Device
from services.intake.batch_loader import BatchLoader, jittered
from services.platform.db import SessionFactory

SCHEME = "hmac1$"


def hash_key(key: str, pepper: str) -> str:
    """What the registry stores for a key: its HMAC-SHA256 under the server's pepper."""
    digest = hmac.new(pepper.encode("utf-8"), key.encode("utf-8"), hashlib.sha256).digest()
    return SCHEME + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def legacy_hash(key: str) -> str:
    """The plain SHA-256 stored before the pepper (accepted once, then rewritten)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def matches(stored: str, key: str, pepper: str) -> bool:
    """Constant-time check of ``key`` against a stored hash of either scheme."""
    if stored.startswith(SCHEME):
        return hmac.compare_digest(stored, hash_key(key, pepper))
    return hmac.compare_digest(stored, legacy_hash(key))


class DeviceAuthError(Exception):
    """Unknown, inactive or wrong key: the caller learns only that (HTTP 401)."""


@dataclass(frozen=True)
class _Entry:
    device: Device
    stored: str
    until: float


class KeyCache:
    """Authenticated devices by id, bounded (least recently used go first) and short-lived."""

    def __init__(self, pepper: str, seconds: float = 10.0, size: int = 10_000) -> None:
        self._pepper, self._seconds, self._size = pepper, seconds, size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self._loader: BatchLoader[str, Device] | None = None
        self._loader_sessions: SessionFactory | None = None

    def _loader_for(self, sessions: SessionFactory) -> BatchLoader[str, Device]:
        """The devices' single-flight, batched reader (one per session factory: a process
        has one; a test may pass another)."""
        if self._loader is None or self._loader_sessions is not sessions:

            async def read(ids: list[str]) -> dict[str, Device]:
                async with sessions() as session:
                    query = select(Device).where(col(Device.id).in_(ids))
                    return {row.id: row for row in (await session.execute(query)).scalars()}

            self._loader, self._loader_sessions = BatchLoader(read), sessions
        return self._loader

    async def authenticate(self, sessions: SessionFactory, device_id: str, key: str) -> Device:
        """The registered, active device whose key this is; ``DeviceAuthError`` otherwise."""
        entry = self._entries.get(device_id)
        now = time.monotonic()
        if entry is not None and entry.until > now and matches(entry.stored, key, self._pepper):
            self._entries.move_to_end(device_id)
            self.hits += 1
            return entry.device
        self.misses += 1
        row = await self._loader_for(sessions).load(device_id)
        stored = row.key_hash if row is not None else hash_key("no such device", self._pepper)
        good = matches(stored, key, self._pepper)
        if row is None or not good or not row.active:
            self._entries.pop(device_id, None)
            raise DeviceAuthError("unknown device or wrong key")
        if not stored.startswith(SCHEME):
            stored = await self._rehash(sessions, device_id, stored, key)
        self._entries[device_id] = _Entry(row, stored, now + jittered(self._seconds))
        self._entries.move_to_end(device_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return row

    async def _rehash(self, sessions: SessionFactory, device_id: str, old: str, key: str) -> str:
        """Rewrite a legacy SHA-256 to the peppered HMAC, only if nobody changed it meanwhile."""
        new = hash_key(key, self._pepper)
        async with sessions() as session, session.begin():
            await session.execute(
                update(Device)
                .where(col(Device.id) == device_id)
                .where(col(Device.key_hash) == old)
                .values(key_hash=new)
            )
        return new
