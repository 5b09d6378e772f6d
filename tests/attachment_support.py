"""Files and servers for the attachment tests: photos made with Pillow, an S3 server.

The S3-compatible server is moto's standalone server (``moto[server]`` from PyPI) run as a
real HTTP server on 127.0.0.1 in a child process: the S3 backend speaks real HTTP (SigV4,
multipart uploads, server-side copy, presigned URLs) to it exactly as it would to MinIO or
OSS. Chosen over MinIO because MinIO is not on PyPI or Debian (its server would have to be
downloaded at run time, which the project forbids); moto installs with pip, starts in about
a second and needs no credentials or disk.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime

import httpx
import pillow_heif
from PIL import ExifTags, Image

pillow_heif.register_heif_opener()

# A point in the town (Wuzhen) and a time, as a phone's camera writes them.
GPS_LAT, GPS_LON = 30.7452, 120.4871
TAKEN_AT = datetime(2026, 11, 30, 9, 15, 42)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_moto_server() -> Iterator[str]:
    """moto's S3 server on a loopback port; yields its endpoint URL, stops it after."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for_http(endpoint + "/moto-api/")
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
    return (float(degrees), float(minutes), seconds)


def phone_exif(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: time taken with its offset, GPS, a camera model."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestPhone"
    exif[ExifTags.Base.Orientation] = orientation
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = TAKEN_AT.strftime("%Y:%m:%d %H:%M:%S")
    details[ExifTags.Base.OffsetTimeOriginal] = "+08:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = _dms(GPS_LAT)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = _dms(GPS_LON)
    return exif


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """Random pixels: they compress badly, like a real photo's detail."""
    rng = __import__("random").Random(seed)
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


def jpeg_bytes(
    width: int = 640,
    height: int = 480,
    *,
    exif: Image.Exif | None = None,
    seed: int = 0,
    quality: int = 85,
) -> bytes:
    out = io.BytesIO()
    image = noise_image(width, height, seed)
    if exif is not None:
        image.save(out, "JPEG", quality=quality, exif=exif)
    else:
        image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png_bytes(width: int = 320, height: int = 240, seed: int = 1) -> bytes:
    out = io.BytesIO()
    noise_image(width, height, seed).save(out, "PNG")
    return out.getvalue()


def heic_bytes(width: int = 320, height: int = 240) -> bytes:
    out = io.BytesIO()
    noise_image(width, height, 2).save(out, "HEIF", exif=phone_exif().tobytes())
    return out.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A few KB that decode to ``width * height`` pixels: a decompression bomb."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG")
    return out.getvalue()


def mp4_bytes(payload: int = 4096) -> bytes:
    """The boxes a phone's MP4 starts with (``ftyp``, then media data)."""
    ftyp = b"ftypisom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41"
    mdat = os.urandom(payload)
    return (
        struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", len(mdat) + 8) + b"mdat" + mdat
    )


# An ELF executable's first bytes, padded, as a file renamed ``photo.jpg`` would start.
EXECUTABLE = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + os.urandom(4000)


async def stream(data: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


def blobs_under(root: os.PathLike[str] | str) -> list[str]:
    """Every stored blob file under a filesystem store (its ``tmp`` folder excluded)."""
    top = os.fspath(root)
    found = []
    for folder, _, names in os.walk(top):
        if os.path.relpath(folder, top).split(os.sep)[0] == "tmp":
            continue
        found += [name for name in names if len(name) == 64]
    return found


def multipart_files(
    files: Iterable[tuple[str, bytes, str]],
) -> list[tuple[str, tuple[str, bytes, str]]]:
    """httpx ``files=`` for the field ``files``: (filename, bytes, declared type) each."""
    return [("files", (name, data, declared)) for name, data, declared in files]
