"""Bodies of the attachment routes (``api.routers.attachments``): what an upload answers and
what a link request gives. Workflows never see these: they carry attachment ids only
(``schemas.platform.common.Evidence.attachment_id``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

# An attachment id: the uuid4 hex the upload answered with.
AttachmentId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", min_length=32, max_length=32)]
Purpose = Literal["report", "department_result", "verification", "rectification"]


class StoredAttachment(BaseModel):
    """One stored upload (the same bytes uploaded twice are stored once, by ``sha256``)."""

    id: str
    kind: str
    size: int
    sha256: str
    declared_name: str
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None


class UploadAnswer(BaseModel):
    """The attachments of one form, in form order: cite their ids in the report or result."""

    items: list[StoredAttachment]


class AttachmentLink(BaseModel):
    """A short-lived download URL; ``variant`` is what the caller's role is given."""

    id: str
    variant: Literal["original", "public", "thumb"]
    url: str
    expires_in: int
