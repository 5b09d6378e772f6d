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

JPEG_KEEP_APP = {0xE0, 0xE2, 0xEE}  # APP0 JFIF, APP2 ICC profile, APP14 Adobe
JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
COPY_BYTES = 256 * 1024


class StripError(ValueError):
    """The file's structure is not what its signature promised (truncated or forged)."""


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


def strip_jpeg(src: BinaryIO, dst: BinaryIO, orientation: int = 1) -> None:
    """Copy a JPEG from ``src`` to ``dst`` without its metadata segments."""
    if _read(src, 2) != b"\xff\xd8":
        raise StripError("not a JPEG")
    dst.write(b"\xff\xd8")
    if orientation != 1:
        dst.write(_orientation_segment(orientation))
    while True:
        byte = _read(src, 1)
        if byte != b"\xff":
            raise StripError("JPEG segment does not start with a marker")
        marker = _read(src, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _read(src, 1)[0]
        if marker in JPEG_STANDALONE:
            dst.write(bytes((0xFF, marker)))
            continue
        if marker == 0xD9:  # EOI before any scan
            dst.write(b"\xff\xd9")
            return
        raw_length = _read(src, 2)
        length = struct.unpack(">H", raw_length)[0]
        if length < 2:
            raise StripError("JPEG segment length below 2")
        body = _read(src, length - 2)
        drop = (0xE0 <= marker <= 0xEF and marker not in JPEG_KEEP_APP) or marker == 0xFE
        if not drop:
            dst.write(bytes((0xFF, marker)) + raw_length + body)
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data and trailer
            while chunk := src.read(COPY_BYTES):
                dst.write(chunk)
            return


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
