"""Check a received photo by decoding it, read its EXIF evidence, make what pages show.

Runs in a worker thread (``asyncio.to_thread``) under a process-wide semaphore
(``GRIDPLUS_UPLOAD_DECODE_CONCURRENCY``): a decoded 12-megapixel photo is ~36 MB, so fifty
uploads at once must not decode fifty photos at once.

* **Limits.** ``Image.MAX_IMAGE_PIXELS`` is set from the policy (Pillow refuses past twice
  that on its own); the header's width x height is checked against the limit itself before
  any pixel is decoded, so a decompression bomb costs a few KB of reading.
* **Integrity.** The whole image is decoded (JPEGs at a reduced DCT scale, which still reads
  every byte): a truncated or corrupt file raises here, and is refused with a 422.
* **Evidence.** EXIF ``DateTimeOriginal`` (with ``OffsetTimeOriginal``; a phone in China
  without it wrote Beijing time) and the GPS position, read as the phone wrote them.
* **What others see.** A thumbnail (JPEG, at most ``thumbnail_px`` on its long side, upright)
  and a public copy without metadata: JPEG/PNG losslessly stripped (``strip.py``); HEIC
  re-encoded as JPEG, since browsers other than Safari cannot show HEIC.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pillow_heif
from PIL import ExifTags, Image, ImageOps

from services.attachments.policy import Kind, UploadPolicy, UploadRefused
from services.attachments.strip import StripError, strip_jpeg, strip_png

pillow_heif.register_heif_opener()
Image.MAX_IMAGE_PIXELS = 50_000_000  # replaced by the policy's limit on first use

CHINA_STANDARD_TIME = timezone(timedelta(hours=8))
_decode_slots = threading.BoundedSemaphore(2)
_slots_lock = threading.Lock()


def set_decode_concurrency(n: int) -> None:
    """How many images this process decodes at once (from settings, at start-up)."""
    global _decode_slots
    with _slots_lock:
        _decode_slots = threading.BoundedSemaphore(n)


@dataclass(frozen=True)
class ImageFacts:
    """What decoding told us about a photo."""

    width: int
    height: int
    taken_at: datetime | None
    gps_lat: float | None
    gps_lon: float | None
    public_kind: Kind  # the media type of the public copy


def _corrupt(detail: str) -> UploadRefused:
    return UploadRefused(
        422, "corrupt_image", f"the image cannot be decoded (truncated or corrupt): {detail}"
    )


def _too_many_pixels(width: int, height: int, limit: int) -> UploadRefused:
    return UploadRefused(
        413,
        "too_many_pixels",
        f"the image is {width}x{height} = {width * height} pixels; at most {limit} are allowed",
        limit=limit,
    )


def process_image(
    source: Path, kind: Kind, policy: UploadPolicy, public: Path, thumb: Path
) -> ImageFacts:
    """Check ``source`` and write its public copy and thumbnail; raises ``UploadRefused``."""
    with _decode_slots:
        Image.MAX_IMAGE_PIXELS = policy.max_pixels
        try:
            return _process(source, kind, policy, public, thumb)
        except Image.DecompressionBombError as error:
            raise UploadRefused(
                413, "too_many_pixels", str(error), limit=policy.max_pixels
            ) from error
        except UploadRefused:
            raise
        except (OSError, SyntaxError, ValueError, StripError) as error:
            raise _corrupt(str(error) or type(error).__name__) from error


def _process(
    source: Path, kind: Kind, policy: UploadPolicy, public: Path, thumb: Path
) -> ImageFacts:
    with Image.open(source) as image:
        width, height = image.size
        if width * height > policy.max_pixels:
            raise _too_many_pixels(width, height, policy.max_pixels)
        stored = max(source.stat().st_size, 1)
        if width * height > policy.max_pixels_per_byte * stored:
            raise UploadRefused(
                413,
                "decompression_bomb",
                f"the image is {width}x{height} pixels in {stored} bytes: more than "
                f"{policy.max_pixels_per_byte} pixels per byte, a decompression bomb",
                limit=policy.max_pixels_per_byte,
            )
        exif = image.getexif()
        orientation = int(exif.get(ExifTags.Base.Orientation, 1) or 1)
        taken_at, lat, lon = read_evidence(exif)
        if kind is Kind.JPEG:
            image.draft("RGB", (policy.thumbnail_px * 2, policy.thumbnail_px * 2))
        image.load()  # decodes everything: a truncated file fails here
        if kind is Kind.HEIC or kind is Kind.HEIF:
            upright = ImageOps.exif_transpose(image.convert("RGB"))
            upright.save(public, "JPEG", quality=90)
            public_kind = Kind.JPEG
            small = upright
        else:
            small = ImageOps.exif_transpose(image)
            public_kind = kind
        small = small.convert("RGB")
        small.thumbnail((policy.thumbnail_px, policy.thumbnail_px))
        small.save(thumb, "JPEG", quality=80)
    if kind is Kind.JPEG:
        with source.open("rb") as src, public.open("wb") as dst:
            strip_jpeg(src, dst, orientation=orientation if 1 <= orientation <= 8 else 1)
    elif kind is Kind.PNG:
        with source.open("rb") as src, public.open("wb") as dst:
            strip_png(src, dst)
    return ImageFacts(width, height, taken_at, lat, lon, public_kind)


def read_evidence(exif: Image.Exif) -> tuple[datetime | None, float | None, float | None]:
    """EXIF time taken and GPS position; a malformed field is left out, never fatal (the
    photo is the evidence, the EXIF a claim about it)."""
    details = exif.get_ifd(ExifTags.IFD.Exif)
    taken_at = _exif_time(
        details.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime),
        details.get(ExifTags.Base.OffsetTimeOriginal),
    )
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    lat = _gps_degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef))
    lon = _gps_degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    return taken_at, lat, lon


def _exif_time(value: Any, offset: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        naive = datetime.strptime(value.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone: tzinfo = CHINA_STANDARD_TIME
    if isinstance(offset, str):
        with suppress(ValueError):
            zone = datetime.strptime(offset.strip("\x00 "), "%z").tzinfo or zone
    return naive.replace(tzinfo=zone)


def _gps_degrees(dms: Any, ref: Any) -> float | None:
    try:
        degrees, minutes, seconds = (float(part) for part in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = degrees + minutes / 60 + seconds / 3600
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    return -value if isinstance(ref, str) and ref.strip("\x00 ").upper() in {"S", "W"} else value
