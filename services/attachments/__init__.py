"""Attachments: photos and videos stewards, departments and inspectors upload (issue 16).

Groundwork, not wired into routes or workflows yet:

* ``storage``: the ``Storage`` protocol (``put`` a stream -> sha256 + size, ``open``,
  ``exists``, ``delete``) and ``FilesystemStorage``; ``s3.S3Storage`` for production.
* ``policy``: ``UploadPolicy`` (limits, allowed kinds), ``Kind``, ``UploadRefused``.
* ``receive``: ``receive_upload`` (one file from an async byte stream) and ``AttachmentMeta``.
* ``multipart``: ``receive_multipart`` (a whole ``multipart/form-data`` body, streamed).
* ``images`` / ``strip``: decoding checks, EXIF evidence, thumbnails, metadata removal.
* ``signing``: short-lived HMAC download links and the role rule for originals.
"""

from __future__ import annotations

from pathlib import Path

from services.attachments.policy import Kind, UploadPolicy, UploadRefused
from services.attachments.receive import AttachmentMeta, receive_upload
from services.attachments.storage import Blob, BlobMissing, FilesystemStorage, Storage
from settings import Settings

__all__ = [
    "AttachmentMeta",
    "Blob",
    "BlobMissing",
    "FilesystemStorage",
    "Kind",
    "Storage",
    "UploadPolicy",
    "UploadRefused",
    "configure",
    "receive_upload",
    "storage_from_settings",
]


def configure(settings: Settings) -> None:
    """Process-wide start-up from settings (the API's lifespan calls it once): how many
    images are decoded at once."""
    from services.attachments.images import set_decode_concurrency

    set_decode_concurrency(settings.upload_decode_concurrency)


def storage_from_settings(settings: Settings) -> Storage:
    """The configured backend (``GRIDPLUS_ATTACHMENTS_BACKEND``)."""
    if settings.attachments_backend == "s3":
        from services.attachments.s3 import S3Storage, client_from_settings

        return S3Storage(client_from_settings(settings), settings.attachments_s3_bucket)
    return FilesystemStorage(Path(settings.attachments_dir))
