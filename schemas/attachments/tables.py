"""Attachment metadata (issue 16): the bytes live in ``services.attachments`` storage, by
sha256; the database holds what is known about each upload and who it belongs to.

One row per *upload* (an attachment id is what workflows and pages carry), many rows may
share one blob: the same photo attached to two reports is two rows and one stored file.
``owner_kind``/``owner_id`` link it to a case or inspection once the report is filed
(null while the upload waits for its form), ``purpose`` says which step it is evidence
for. EXIF time and GPS are kept as read (``exif_*``): evidence, compared with the
reported place, never used for placement.

Registered by ``schemas.tables`` (imported by ``migrations/env.py`` and the tests), so Alembic's
metadata and the test schema include this table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime
from sqlmodel import Field, SQLModel

OWNER_KINDS = ("case", "inspection")
PURPOSES = ("report", "department_result", "verification", "rectification")


class Attachment(SQLModel, table=True):
    """One uploaded file: its blobs (original, public copy, thumbnail) and what it shows."""

    __tablename__ = "attachment"

    id: str = Field(primary_key=True, max_length=32)  # uuid4 hex
    owner_kind: str | None = Field(default=None, max_length=20)
    owner_id: str | None = Field(default=None, max_length=100, index=True)
    purpose: str = Field(max_length=24)
    uploaded_by: str = Field(max_length=140)  # "role:id" of the token that uploaded it
    uploaded_at: datetime = Field(sa_type=DateTime(timezone=True))
    sha256: str = Field(max_length=64, index=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=20)
    declared_name: str = Field(max_length=200)
    declared_type: str | None = Field(default=None, max_length=100)
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    exif_lat: float | None = None
    exif_lon: float | None = None
    public_sha256: str | None = Field(default=None, max_length=64)
    public_kind: str | None = Field(default=None, max_length=20)
    thumb_sha256: str | None = Field(default=None, max_length=64)
