"""Remove metadata from JPEG and PNG files without decoding them.

Why not re-encode with Pillow: re-encoding a 12-megapixel photo costs ~36 MB of memory and a
generation of JPEG loss, for every upload. Metadata lives in well-delimited containers
(JPEG APPn/COM segments, PNG ancillary chunks), so copying the file while leaving those
out is exact, streams in constant memory, and leaves the pixels bit-identical.

What goes: EXIF (time, GPS, camera serial), XMP, IPTC/Photoshop, comments; PNG text chunks,
``eXIf`` and ``tIME``. What stays: the image data, JFIF, the ICC colour profile (colours
would shift without it), Adobe's colour-transform marker. EXIF's Orientation is the one
EXIF field a viewer needs (else portrait photos show sideways), so a JPEG whose EXIF said
a rotation gets a fresh EXIF segment carrying that field alone.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from PIL import Image

JPEG_KEEP_APP = {0xE0, 0xE2, 0xEE}  # APP0 JFIF, APP2 (ICC profile only), APP14 Adobe
JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
COPY_BYTES = 256 * 1024


class StripError(ValueError):
    """The file's structure is not what its signature promised (truncated or forged)."""


class _Reader:
    """A file read forwards, with bytes that were read too far pushed back."""

    def __init__(self, src: BinaryIO) -> None:
        self.src = src
        self.pending = b""

    def read(self, n: int) -> bytes:
        if self.pending:
            data, self.pending = self.pending[:n], self.pending[n:]
            if len(data) < n:
                data += self.src.read(n - len(data))
        else:
            data = self.src.read(n)
        return data

    def exactly(self, n: int) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise StripError("file ends inside a header")
        return data

    def unread(self, data: bytes) -> None:
        self.pending = data + self.pending


def _read(src: BinaryIO, n: int) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise StripError("file ends inside a header")
    return data


def _orientation_segment(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()  # starts with b"Exif\0\0"
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _copy_scan(src: _Reader, dst: BinaryIO) -> int:
    """Copy entropy-coded data up to the next marker and return that marker (not copied).

    Inside a scan 0xFF is followed by 0x00 (a stuffed byte), RST0-7, or 0xFF (fill); any
    other byte after it is a marker: the next segment, another scan's tables, or EOI.
    """
    carry = b""
    while True:
        chunk = src.read(COPY_BYTES)
        if not chunk:
            raise StripError("file ends inside image data")
        data = carry + chunk
        pos = 0
        while (at := data.find(b"\xff", pos)) != -1 and at + 1 < len(data):
            following = data[at + 1]
            if following == 0x00 or following == 0xFF or 0xD0 <= following <= 0xD7:
                pos = at + 1 if following == 0xFF else at + 2
                continue
            dst.write(data[:at])
            src.unread(data[at + 2 :])
            return following
        keep = 1 if data.endswith(b"\xff") else 0  # a marker may straddle two chunks
        dst.write(data[: len(data) - keep])
        carry = data[len(data) - keep :]


def _drop_jpeg_segment(marker: int, body: bytes) -> bool:
    if marker == 0xFE:  # comment
        return True
    if marker == 0xE2:  # APP2: the ICC profile stays; MPF (pointers to trailing images) goes
        return not body.startswith(b"ICC_PROFILE\x00")
    return 0xE0 <= marker <= 0xEF and marker not in JPEG_KEEP_APP


def strip_jpeg(source: BinaryIO, dst: BinaryIO, orientation: int = 1) -> None:
    """Copy a JPEG from ``source`` to ``dst`` without its metadata segments, and without
    whatever follows its end-of-image marker (phones append preview and depth images,
    motion-photo videos and vendor trailers there, some with their own EXIF and GPS)."""
    src = _Reader(source)
    if src.exactly(2) != b"\xff\xd8":
        raise StripError("not a JPEG")
    dst.write(b"\xff\xd8")
    if orientation != 1:
        dst.write(_orientation_segment(orientation))
    marker: int | None = None
    while True:
        if marker is None:
            if src.exactly(1) != b"\xff":
                raise StripError("JPEG segment does not start with a marker")
            marker = src.exactly(1)[0]
        while marker == 0xFF:  # fill bytes
            marker = src.exactly(1)[0]
        if marker == 0xD9:  # end of image: the trailer, if any, is left out
            dst.write(b"\xff\xd9")
            return
        if marker in JPEG_STANDALONE:
            dst.write(bytes((0xFF, marker)))
            marker = None
            continue
        raw_length = src.exactly(2)
        length = struct.unpack(">H", raw_length)[0]
        if length < 2:
            raise StripError("JPEG segment length below 2")
        body = src.exactly(length - 2)
        if not _drop_jpeg_segment(marker, body):
            dst.write(bytes((0xFF, marker)) + raw_length + body)
        marker = _copy_scan(src, dst) if marker == 0xDA else None


def strip_png(src: BinaryIO, dst: BinaryIO) -> None:
    """Copy a PNG from ``src`` to ``dst`` without its text, EXIF and time chunks."""
    if _read(src, 8) != PNG_SIGNATURE:
        raise StripError("not a PNG")
    dst.write(PNG_SIGNATURE)
    while True:
        header = _read(src, 8)
        length, kind = struct.unpack(">I4s", header)
        keep = kind not in PNG_DROP
        if keep:
            dst.write(header)
        remaining = length + 4  # data and CRC
        while remaining:
            chunk = _read(src, min(remaining, COPY_BYTES))
            remaining -= len(chunk)
            if keep:
                dst.write(chunk)
        if kind == b"IEND":
            return
