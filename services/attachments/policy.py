"""What an upload may be, and the typed refusal a route turns into its HTTP answer.

The kind of a file is decided by its first bytes (``filetype``'s signatures), never by the
name or the declared ``Content-Type``: both are the client's claims. A PNG named ``.jpg``
is accepted *as a PNG* and recorded so (chat apps and phone galleries rename pictures
routinely; refusing would bounce honest screenshots, and nothing downstream trusts the
name). Anything whose bytes are not one of the allowed kinds is a 415, whatever its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import filetype

from settings import Settings

# Enough bytes for every signature ``filetype`` checks for the kinds below (ISO-BMFF's
# ``ftyp`` box sits in the first 12-32 bytes; JPEG and PNG in the first 8).
SNIFF_BYTES = 262


class Kind(StrEnum):
    """An accepted kind of attachment, named by its media type."""

    JPEG = "image/jpeg"
    PNG = "image/png"
    HEIC = "image/heic"
    HEIF = "image/heif"
    MP4 = "video/mp4"

    @property
    def is_image(self) -> bool:
        return self is not Kind.MP4

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg", "image/png": "png", "video/mp4": "mp4"}.get(
            self.value, self.value.removeprefix("image/")
        )


ALL_KINDS = frozenset(Kind)


class UploadRefused(Exception):
    """An upload the service will not store: ``status`` is the HTTP answer (413 a limit,
    415 a kind, 422 a file that is not what it claims to be), ``field`` the form field or
    setting at fault, ``limit`` the number that was exceeded when there is one."""

    def __init__(self, status: int, code: str, message: str, *, limit: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.limit = limit

    def detail(self) -> dict[str, object]:
        """The body a route answers with (FastAPI's ``{"detail": ...}``)."""
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.limit is not None:
            out["limit"] = self.limit
        return out


@dataclass(frozen=True)
class UploadPolicy:
    """Limits for one kind of upload (a steward's report, a department's result...)."""

    max_photo_bytes: int = 10 * 1024 * 1024
    max_video_bytes: int = 100 * 1024 * 1024
    max_files: int = 9
    max_pixels: int = 50_000_000
    thumbnail_px: int = 320
    allowed: frozenset[Kind] = field(default=ALL_KINDS)
    # Pixels a stored byte may decode to: a photo is 1-200, a flat screenshot ~200; a
    # decompression bomb (12 megapixels in 1.5 KB) ~8,000. Past this: 413 before decoding.
    max_pixels_per_byte: int = 1000
    # Refuse a file whose name claims another kind than its bytes (a PNG named ``.jpg``);
    # the service sets it (``GRIDPLUS_UPLOAD_REFUSE_RENAMED``), the bare policy accepts.
    refuse_renamed: bool = False

    @classmethod
    def from_settings(
        cls, settings: Settings, allowed: frozenset[Kind] = ALL_KINDS
    ) -> UploadPolicy:
        return cls(
            max_photo_bytes=settings.upload_max_photo_bytes,
            max_video_bytes=settings.upload_max_video_bytes,
            max_files=settings.upload_max_files,
            max_pixels=settings.upload_max_pixels,
            thumbnail_px=settings.upload_thumbnail_px,
            allowed=allowed,
            max_pixels_per_byte=settings.upload_max_pixels_per_byte,
            refuse_renamed=settings.upload_refuse_renamed,
        )

    def max_bytes(self, kind: Kind) -> int:
        return self.max_photo_bytes if kind.is_image else self.max_video_bytes

    def too_large(self, kind: Kind) -> UploadRefused:
        limit = self.max_bytes(kind)
        what = "photo" if kind.is_image else "video"
        return UploadRefused(
            413,
            f"{what}_too_large",
            f"a {what} may be at most {limit} bytes ({limit / 1024 / 1024:g} MiB)",
            limit=limit,
        )

    def too_many(self) -> UploadRefused:
        return UploadRefused(
            413,
            "too_many_files",
            f"at most {self.max_files} files may be attached at once",
            limit=self.max_files,
        )


_KIND_BY_EXTENSION = {
    "jpg": Kind.JPEG,
    "jpeg": Kind.JPEG,
    "png": Kind.PNG,
    "heic": Kind.HEIC,
    "heif": Kind.HEIC,
    "mp4": Kind.MP4,
}


def check_name(kind: Kind, filename: str, policy: UploadPolicy) -> None:
    """415 when ``policy.refuse_renamed`` and the name's extension names another kind than
    the bytes are (HEIC and HEIF are one family); names without a known extension pass."""
    if not policy.refuse_renamed or "." not in filename:
        return
    extension = filename.rsplit(".", 1)[-1].lower()
    claimed = _KIND_BY_EXTENSION.get(extension)
    family = Kind.HEIC if kind is Kind.HEIF else kind
    if claimed is not None and claimed is not family:
        raise UploadRefused(
            415,
            "name_mismatch",
            f"file content is {kind.value} but its name says .{extension}; "
            f"name it .{kind.extension} or send the file as it is",
        )


def sniff(head: bytes) -> Kind | None:
    """The kind the first bytes of a file say it is, or None for anything else."""
    guess = filetype.guess(head)
    if guess is None:
        return None
    try:
        return Kind(guess.mime)
    except ValueError:
        return None


def check_kind(head: bytes, policy: UploadPolicy, declared_type: str | None) -> Kind:
    """The kind of a file by its first bytes, or a 415 naming what was found and allowed."""
    kind = sniff(head)
    if kind is None or kind not in policy.allowed:
        allowed = ", ".join(sorted(k.value for k in policy.allowed))
        found = kind.value if kind else "unrecognised content"
        claimed = f" (declared {declared_type})" if declared_type else ""
        raise UploadRefused(
            415,
            "unsupported_type",
            f"file content is {found}{claimed}; allowed: {allowed}",
        )
    return kind
