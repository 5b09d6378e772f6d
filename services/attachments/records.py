"""The database row of a stored upload: ``receive_upload``'s answer plus who and what for."""

from __future__ import annotations

from datetime import datetime

from schemas.attachments.tables import OWNER_KINDS, PURPOSES, Attachment
from services.attachments.receive import AttachmentMeta


def attachment_row(
    meta: AttachmentMeta,
    *,
    attachment_id: str,
    purpose: str,
    uploaded_by: str,
    uploaded_at: datetime,
    owner_kind: str | None = None,
    owner_id: str | None = None,
) -> Attachment:
    """The row recording a stored upload (``receive_upload``'s answer)."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}")
    if owner_kind is not None and owner_kind not in OWNER_KINDS:
        raise ValueError(f"owner_kind must be one of {', '.join(OWNER_KINDS)}")
    return Attachment(
        id=attachment_id,
        owner_kind=owner_kind,
        owner_id=owner_id,
        purpose=purpose,
        uploaded_by=uploaded_by,
        uploaded_at=uploaded_at,
        sha256=meta.sha256,
        size=meta.size,
        kind=meta.kind.value,
        declared_name=meta.declared_name,
        declared_type=meta.declared_type,
        width=meta.width,
        height=meta.height,
        taken_at=meta.taken_at,
        exif_lat=meta.gps_lat,
        exif_lon=meta.gps_lon,
        public_sha256=meta.public_sha256,
        public_kind=meta.public_kind.value if meta.public_kind else None,
        thumb_sha256=meta.thumb_sha256,
    )
