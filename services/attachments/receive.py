"""Receive one uploaded file: check it while it streams, then store it content-addressed.

Two steps, so a request with several files stores all or nothing:

1. ``UploadSink`` takes the bytes as they arrive and spools them to a private temporary
   file, hashing and counting. The first bytes decide the kind (415 at once for anything
   else, before the rest is read); the kind's size limit is enforced as bytes arrive (413
   as soon as it is crossed, not after an 11 MB body was written). ``finish`` decodes an
   image in a thread (``images.process_image``: pixel limit, truncation, EXIF, thumbnail,
   public copy) and returns a ``PreparedUpload``: temp files, nothing stored.
2. ``PreparedUpload.commit`` puts the original and its variants into ``Storage``.

``receive_upload`` does both for one file; ``multipart.receive_multipart`` for a form.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict

from services.attachments.images import process_image
from services.attachments.policy import (
    SNIFF_BYTES,
    Kind,
    UploadPolicy,
    UploadRefused,
    check_kind,
    check_name,
)
from services.attachments.storage import Storage, file_chunks

MAX_NAME_CHARS = 200


class AttachmentMeta(BaseModel):
    """What the database records about a stored attachment (the id is the caller's).

    ``sha256`` is the original's address (only the center is served it: it holds the EXIF);
    ``public_sha256``/``thumb_sha256`` what everyone else sees (None for videos, whose
    metadata is not stripped yet). ``declared_*`` are the client's claims, kept as sent.
    """

    model_config = ConfigDict(frozen=True)

    sha256: str
    size: int
    kind: Kind
    declared_name: str
    declared_type: str | None
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    public_sha256: str | None = None
    public_kind: Kind | None = None
    thumb_sha256: str | None = None
    created: bool = True  # False when the same bytes were stored before


def clean_name(name: str | None) -> str:
    """A declared filename fit to show and to put in a header: its last path part, no
    control characters, at most ``MAX_NAME_CHARS`` characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"')
    return base[:MAX_NAME_CHARS] or "upload"


@dataclass
class PreparedUpload:
    """A checked upload waiting in temp files; ``commit`` stores it, ``discard`` drops it."""

    workdir: Path
    original: Path
    meta: AttachmentMeta
    public: Path | None = None
    thumb: Path | None = None

    async def commit(self, storage: Storage) -> AttachmentMeta:
        try:
            blob = await storage.put(file_chunks(self.original))
            if blob.sha256 != self.meta.sha256:  # the temp file changed under us
                raise RuntimeError("stored bytes differ from the received ones")
            public = await storage.put(file_chunks(self.public)) if self.public else None
            thumb = await storage.put(file_chunks(self.thumb)) if self.thumb else None
        finally:
            self.discard()
        return self.meta.model_copy(
            update={
                "public_sha256": public.sha256 if public else None,
                "thumb_sha256": thumb.sha256 if thumb else None,
                "created": blob.created,
            }
        )

    def discard(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


class UploadSink:
    """Receives one file's bytes in order; see the module docstring."""

    def __init__(
        self,
        policy: UploadPolicy,
        *,
        filename: str | None,
        content_type: str | None,
        tmp_root: Path | None = None,
    ) -> None:
        self.policy = policy
        self.filename = clean_name(filename)
        self.content_type = (content_type or "")[:100] or None
        self.workdir = Path(tempfile.mkdtemp(prefix="upload-", dir=tmp_root))
        self.path = self.workdir / "original"
        self._file: IO[bytes] = self.path.open("wb")
        self._head = bytearray()
        self._kind: Kind | None = None
        self._digest = hashlib.sha256()
        self._size = 0

    async def write(self, chunk: bytes | memoryview) -> None:
        """Take the next bytes; raises ``UploadRefused`` (and discards) on a limit or kind."""
        try:
            if self._kind is None:
                self._head += chunk[: SNIFF_BYTES - len(self._head)]
                if len(self._head) >= SNIFF_BYTES:
                    self._kind = check_kind(bytes(self._head), self.policy, self.content_type)
                    check_name(self._kind, self.filename, self.policy)
            self._size += len(chunk)
            if self._kind is not None and self._size > self.policy.max_bytes(self._kind):
                raise self.policy.too_large(self._kind)
            self._digest.update(chunk)
            self._file.write(chunk)  # page cache: microseconds for 64 KB
        except BaseException:
            self.discard()
            raise

    async def finish(self) -> PreparedUpload:
        """All bytes are in: check the file as a whole and prepare its variants."""
        try:
            self._file.close()
            if self._size == 0:
                raise UploadRefused(422, "empty_file", "the file is empty")
            if self._kind is None:  # shorter than SNIFF_BYTES
                self._kind = check_kind(bytes(self._head), self.policy, self.content_type)
                check_name(self._kind, self.filename, self.policy)
                if self._size > self.policy.max_bytes(self._kind):
                    raise self.policy.too_large(self._kind)
            kind = self._kind
            meta = AttachmentMeta(
                sha256=self._digest.hexdigest(),
                size=self._size,
                kind=kind,
                declared_name=self.filename,
                declared_type=self.content_type,
            )
            if not kind.is_image:
                return PreparedUpload(self.workdir, self.path, meta)
            public, thumb = self.workdir / "public", self.workdir / "thumb"
            facts = await asyncio.to_thread(
                process_image, self.path, kind, self.policy, public, thumb
            )
            meta = meta.model_copy(
                update={
                    "width": facts.width,
                    "height": facts.height,
                    "taken_at": facts.taken_at,
                    "gps_lat": facts.gps_lat,
                    "gps_lon": facts.gps_lon,
                    "public_kind": facts.public_kind,
                }
            )
            return PreparedUpload(self.workdir, self.path, meta, public, thumb)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        self._file.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def receive_upload(
    chunks: AsyncIterable[bytes],
    *,
    filename: str | None,
    content_type: str | None,
    policy: UploadPolicy,
    storage: Storage,
    tmp_root: Path | None = None,
) -> AttachmentMeta:
    """Check and store one uploaded file; raises ``UploadRefused`` with nothing stored."""
    sink = UploadSink(policy, filename=filename, content_type=content_type, tmp_root=tmp_root)
    try:
        async for chunk in chunks:
            await sink.write(chunk)
    except BaseException:  # the client went away, or a limit: nothing is kept
        sink.discard()
        raise
    prepared = await sink.finish()
    return await prepared.commit(storage)
