"""Content-addressed blob storage: one small interface, a filesystem backend here.

A blob's name is the sha256 of its bytes, so the same photo uploaded twice (a steward
resending, two reports of one scene) is stored once, and a name can never point at other
bytes. ``put`` streams: it hashes while writing to a temporary object and only then moves
it to its content address, so a whole file is never held in memory and a reader never
sees half a blob. The database keeps metadata (``schemas.attachments.tables``); workflows
carry attachment ids, never bytes.

``services.attachments.s3.S3Storage`` is the production backend behind the same protocol;
``tests/test_attachment_storage.py`` runs one suite against both.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

CHUNK_BYTES = 256 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Blob:
    """A stored blob: its content address, its size, and whether this ``put`` created it
    (False when the same bytes were already there)."""

    sha256: str
    size: int
    created: bool


class BlobMissing(LookupError):
    """No blob has this address (it was never stored, or storage lost it)."""


def check_sha256(sha256: str) -> str:
    """``sha256`` if it is a lowercase hex digest; anything else could walk out of the
    store's folder (``../``) or bucket prefix, so it is refused outright."""
    if not _SHA256.match(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256[:80]!r}")
    return sha256


def blob_key(sha256: str) -> str:
    """``sha256/ab/cd/abcd...``: two levels of fan-out keep folders small on a filesystem
    and spread keys across an object store's partitions."""
    check_sha256(sha256)
    return f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


@runtime_checkable
class Storage(Protocol):
    """Where attachment bytes live."""

    async def put(self, chunks: AsyncIterable[bytes]) -> Blob:
        """Store a stream; the blob's address is the sha256 of what was streamed."""
        ...

    def open(self, sha256: str) -> AsyncIterator[bytes]:
        """The blob's bytes, in chunks; raises ``BlobMissing`` on the first read if absent."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> None:
        """Remove a blob (retention; no upload path calls it)."""
        ...


async def file_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """A local file as an async stream (reads run in a thread)."""
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, chunk_bytes):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


class FilesystemStorage:
    """Blobs as files under ``root`` (``.data/attachments`` for ``make run``).

    The temporary file is written in ``root/tmp`` (same filesystem), so the final
    ``os.replace`` is atomic: a blob file exists complete or not at all.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    def path_of(self, sha256: str) -> Path:
        return self.root / blob_key(sha256)

    async def put(self, chunks: AsyncIterable[bytes]) -> Blob:
        await asyncio.to_thread(self._tmp.mkdir, parents=True, exist_ok=True)
        tmp = self._tmp / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        handle: IO[bytes] = await asyncio.to_thread(tmp.open, "wb")
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
            sha256 = digest.hexdigest()
            created = await asyncio.to_thread(self._move_into_place, tmp, sha256)
            return Blob(sha256=sha256, size=size, created=created)
        finally:
            handle.close()
            await asyncio.to_thread(tmp.unlink, True)

    def _move_into_place(self, tmp: Path, sha256: str) -> bool:
        final = self.path_of(sha256)
        if final.exists():
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        return True

    async def open(self, sha256: str) -> AsyncIterator[bytes]:
        path = self.path_of(sha256)
        if not await asyncio.to_thread(path.is_file):
            raise BlobMissing(sha256)
        async for chunk in file_chunks(path):
            yield chunk

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_of(sha256).is_file)

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.path_of(sha256).unlink, True)
