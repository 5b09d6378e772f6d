"""The attachments the API holds: upload, check the ids a report or result cites, serve.

One ``Library`` per API process (``api.main`` builds it from settings at start-up): the
storage backend, the upload policy, the link secret. Routes stay thin and call it:

* ``upload`` streams a multipart form into storage (``receive_multipart``: limits while
  the bytes arrive, all or nothing) and records one ``attachment`` row per file, owned by
  nobody yet, uploaded by the caller.
* ``check`` is what stands between a client's attachment ids and a workflow: every id
  must exist and be the caller's own upload not yet filed elsewhere, or already belong to
  this very case (a verifier citing the handler's photo). Workflows carry only ids, so a
  workflow never has to look anything up; a bad id is a 422 before the update is sent.
* ``bind`` files the caller's fresh uploads under the case they were cited by.
* ``link`` signs a short-lived URL for one variant; ``read`` serves it once verified.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import update
from sqlmodel import col, select

from schemas.attachments.tables import Attachment
from schemas.platform.common import Actor
from services.attachments.multipart import receive_multipart
from services.attachments.policy import UploadPolicy
from services.attachments.records import attachment_row
from services.attachments.signing import Variant, sign_link, variant_for, verify_link
from services.attachments.storage import Storage
from services.platform.db import SessionFactory
from settings import Settings


class AttachmentRejected(Exception):
    """Attachment ids a caller may not cite; ``ids`` are the ones at fault."""

    def __init__(self, message: str, ids: Sequence[str]) -> None:
        super().__init__(message)
        self.message = message
        self.ids = list(ids)


def principal_key(actor: Actor) -> str:
    """``role:id``, as ``attachment.uploaded_by`` records the uploader."""
    return f"{actor.role}:{actor.id}"


@dataclass(frozen=True)
class Served:
    """What a verified link opens: the bytes, their media type and a file name."""

    chunks: AsyncIterator[bytes]
    media_type: str
    filename: str


class Library:
    """Uploads, citations and downloads of attachments (see the module docstring)."""

    def __init__(
        self,
        storage: Storage,
        policy: UploadPolicy,
        sessions: SessionFactory,
        secret: SecretStr,
        ttl_seconds: int,
        spool: Path | None = None,
    ) -> None:
        self.storage = storage
        self.policy = policy
        self.sessions = sessions
        self.secret = secret
        self.ttl_seconds = ttl_seconds
        self.spool = spool

    @classmethod
    def from_settings(
        cls, settings: Settings, storage: Storage, sessions: SessionFactory
    ) -> Library:
        return cls(
            storage,
            UploadPolicy.from_settings(settings),
            sessions,
            settings.attachments_url_secret,
            settings.attachments_url_ttl,
        )

    async def upload(
        self,
        body: AsyncIterable[bytes],
        content_type: str | None,
        content_length: str | None,
        uploader: Actor,
        purpose: str,
    ) -> list[Attachment]:
        """Store every file of a form and record it; ``UploadRefused`` stores nothing."""
        rows, _ = await self.upload_form(body, content_type, content_length, uploader, purpose)
        return rows

    async def upload_form(
        self,
        body: AsyncIterable[bytes],
        content_type: str | None,
        content_length: str | None,
        uploader: Actor,
        purpose: str,
        before_store: Callable[[dict[str, str]], None] | None = None,
    ) -> tuple[list[Attachment], dict[str, str]]:
        """``upload`` for a form with text fields beside its files (the web pages' forms):
        ``before_store`` checks the fields (a CSRF token) before anything is stored."""
        form = await receive_multipart(
            body,
            content_type,
            policy=self.policy,
            storage=self.storage,
            tmp_root=self.spool,
            content_length=content_length,
            before_store=before_store,
        )
        now = datetime.now(UTC)
        rows = [
            attachment_row(
                meta,
                attachment_id=uuid.uuid4().hex,
                purpose=purpose,
                uploaded_by=principal_key(uploader),
                uploaded_at=now,
            )
            for meta in form.files
        ]
        if rows:
            async with self.sessions() as session, session.begin():
                session.add_all(rows)
        return rows, form.fields

    async def rows(self, ids: Sequence[str]) -> dict[str, Attachment]:
        if not ids:
            return {}
        async with self.sessions() as session:
            found = await session.execute(select(Attachment).where(col(Attachment.id).in_(ids)))
            return {row.id: row for row in found.scalars()}

    async def check(self, ids: Sequence[str], citer: Actor, case_id: str | None) -> None:
        """Raise ``AttachmentRejected`` unless every id may be cited by ``citer`` on
        ``case_id`` (None: a case not filed yet): its own upload not filed under another
        case, or an attachment of this case already."""
        if not ids:
            return
        if len(ids) > self.policy.max_files:
            raise AttachmentRejected(f"at most {self.policy.max_files} attachments", ids)
        found = await self.rows(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise AttachmentRejected("no such attachment", missing)
        me = principal_key(citer)
        foreign = [
            i
            for i, row in found.items()
            if not (
                (row.owner_id is None and row.uploaded_by == me)
                or (case_id is not None and row.owner_id == case_id)
            )
        ]
        if foreign:
            raise AttachmentRejected("attachments that are not yours to cite here", foreign)

    async def bind(self, ids: Sequence[str], case_id: str, owner_kind: str = "case") -> None:
        """File the cited uploads under ``case_id`` (those still unfiled): a case, or an
        inspection's or rectification's workflow id (``owner_kind="inspection"``)."""
        if not ids:
            return
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Attachment)
                .where(col(Attachment.id).in_(ids), col(Attachment.owner_id).is_(None))
                .values(owner_kind=owner_kind, owner_id=case_id)
            )

    def link(self, attachment_id: str, role: str, wanted: Variant, base_url: str = "") -> str:
        """A short-lived URL to the variant ``role`` may have of ``wanted``."""
        variant = variant_for(role, wanted)
        query = sign_link(
            self.secret, attachment_id, variant, now=time.time(), ttl_seconds=self.ttl_seconds
        )
        return (
            f"{base_url}/files/{attachment_id}/{variant.value}"
            f"?exp={query['exp']}&sig={query['sig']}"
        )

    async def read(self, attachment_id: str, variant: str, exp: str, sig: str) -> Served | None:
        """The bytes a link opens (``LinkRefused`` for a bad link; None if not stored)."""
        which = verify_link(
            self.secret,
            attachment_id,
            variant,
            exp,
            sig,
            now=time.time(),
            max_ttl_seconds=self.ttl_seconds,
        )
        found = (await self.rows([attachment_id])).get(attachment_id)
        if found is None:
            return None
        if which is Variant.ORIGINAL:
            sha, kind = found.sha256, found.kind
        elif which is Variant.PUBLIC:
            sha, kind = found.public_sha256 or "", found.public_kind or ""
        else:
            sha, kind = found.thumb_sha256 or "", "image/jpeg"
        if not sha:  # a video: no stripped copy or thumbnail is made
            return None
        stem = found.declared_name.rsplit(".", 1)[0] or "attachment"
        extension = kind.rsplit("/", 1)[-1].replace("jpeg", "jpg")
        return Served(self.storage.open(sha), kind, f"{stem}.{which.value}.{extension}")
