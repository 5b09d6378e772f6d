"""``receive_upload``: kinds by content, limits, EXIF evidence, variants, hostile files.

Every refusal is checked for its status, its code and limit, and for leaving nothing behind:
no blob in storage and no temporary file.
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from services.attachments import (
    AttachmentMeta,
    FilesystemStorage,
    Kind,
    UploadPolicy,
    UploadRefused,
    receive_upload,
)
from services.attachments.storage import Storage
from tests.attachment_support import (
    EXECUTABLE,
    GPS_LAT,
    GPS_LON,
    TAKEN_AT,
    blobs_under,
    bomb_png,
    heic_bytes,
    jpeg_bytes,
    mp4_bytes,
    noise_image,
    phone_exif,
    png_bytes,
    stream,
)

POLICY = UploadPolicy()


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStorage:
    return FilesystemStorage(tmp_path / "attachments")


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "spool"
    path.mkdir()
    return path


async def upload(
    store: Storage,
    spool: Path,
    data: bytes,
    name: str = "photo.jpg",
    declared: str | None = "image/jpeg",
    policy: UploadPolicy = POLICY,
) -> AttachmentMeta:
    return await receive_upload(
        stream(data),
        filename=name,
        content_type=declared,
        policy=policy,
        storage=store,
        tmp_root=spool,
    )


async def read(store: Storage, sha256: str | None) -> bytes:
    assert sha256 is not None
    return b"".join([chunk async for chunk in store.open(sha256)])


async def test_a_phone_jpeg_is_stored_with_its_evidence_and_served_stripped(
    store: FilesystemStorage, spool: Path
) -> None:
    data = jpeg_bytes(800, 600, exif=phone_exif(orientation=6))
    meta = await upload(store, spool, data)
    assert (meta.kind, meta.size, meta.width, meta.height) == (Kind.JPEG, len(data), 800, 600)
    assert meta.taken_at is not None
    assert meta.taken_at.isoformat() == TAKEN_AT.isoformat() + "+08:00"
    assert meta.gps_lat == pytest.approx(GPS_LAT, abs=1e-6)
    assert meta.gps_lon == pytest.approx(GPS_LON, abs=1e-6)
    assert await read(store, meta.sha256) == data, "the original is kept byte for byte"

    public_bytes = await read(store, meta.public_sha256)
    assert b"TestPhone" not in public_bytes and b"+08:00" not in public_bytes
    public = Image.open(io.BytesIO(public_bytes))
    exif = public.getexif()
    assert exif.get_ifd(ExifTags.IFD.GPSInfo) == {}, "no GPS in what others see"
    assert exif.get_ifd(ExifTags.IFD.Exif) == {}, "no time or camera details either"
    assert ExifTags.Base.Make not in exif
    assert exif[ExifTags.Base.Orientation] == 6, "but it still shows upright"
    assert public.size == (800, 600)
    public.load()  # the stripped copy is a valid JPEG

    thumb = Image.open(io.BytesIO(await read(store, meta.thumb_sha256)))
    assert thumb.format == "JPEG"
    assert thumb.size == (240, 320), "upright (rotated by the orientation) and small"
    assert not thumb.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert meta.public_kind is Kind.JPEG
    assert os.listdir(spool) == [], "temporary files are removed"


async def test_the_same_photo_twice_is_stored_once(store: FilesystemStorage, spool: Path) -> None:
    data = jpeg_bytes(exif=phone_exif())
    first = await upload(store, spool, data, name="a.jpg")
    second = await upload(store, spool, data, name="IMG_0001.JPG")
    assert first.sha256 == second.sha256
    assert (first.created, second.created) == (True, False)
    assert second.declared_name == "IMG_0001.JPG"
    assert set(blobs_under(store.root)) == {first.sha256, first.public_sha256, first.thumb_sha256}
    assert len(blobs_under(store.root)) == 3


async def test_a_png_named_jpg_is_accepted_as_a_png(store: FilesystemStorage, spool: Path) -> None:
    """Decided: the content decides, the name is a claim (chat apps rename pictures), so
    it is stored and recorded as image/png; the declared name and type are kept as sent."""
    data = png_bytes()
    meta = await upload(store, spool, data, name="screenshot.jpg", declared="image/jpeg")
    assert meta.kind is Kind.PNG and meta.public_kind is Kind.PNG
    assert (meta.declared_name, meta.declared_type) == ("screenshot.jpg", "image/jpeg")
    assert Image.open(io.BytesIO(await read(store, meta.public_sha256))).format == "PNG"


async def test_png_text_and_exif_chunks_are_stripped(store: FilesystemStorage, spool: Path) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "30.7452,120.4871")
    out = io.BytesIO()
    noise_image(64, 64).save(out, "PNG", pnginfo=info, exif=phone_exif())
    meta = await upload(store, spool, out.getvalue(), name="s.png", declared="image/png")
    assert meta.gps_lat == pytest.approx(GPS_LAT, abs=1e-6)
    public = await read(store, meta.public_sha256)
    assert b"Location" not in public and b"eXIf" not in public
    served = Image.open(io.BytesIO(public))
    assert served.tobytes() == noise_image(64, 64).tobytes(), "pixels untouched"


async def test_a_heic_photo_is_served_as_jpeg(store: FilesystemStorage, spool: Path) -> None:
    meta = await upload(store, spool, heic_bytes(), name="IMG_1.HEIC", declared="image/heic")
    assert meta.kind is Kind.HEIC and meta.public_kind is Kind.JPEG
    assert meta.gps_lat == pytest.approx(GPS_LAT, abs=1e-6)
    public = Image.open(io.BytesIO(await read(store, meta.public_sha256)))
    assert public.format == "JPEG" and public.size == (320, 240)
    assert not public.getexif().get_ifd(ExifTags.IFD.GPSInfo)


async def test_an_mp4_is_stored_without_variants(store: FilesystemStorage, spool: Path) -> None:
    data = mp4_bytes()
    meta = await upload(store, spool, data, name="clip.mp4", declared="video/mp4")
    assert meta.kind is Kind.MP4
    assert (meta.public_sha256, meta.thumb_sha256, meta.width) == (None, None, None)
    assert await read(store, meta.sha256) == data


async def refused(
    store: FilesystemStorage,
    spool: Path,
    data: bytes,
    *,
    name: str = "photo.jpg",
    policy: UploadPolicy = POLICY,
) -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        await upload(store, spool, data, name=name, policy=policy)
    assert blobs_under(store.root) == [], "nothing stored"
    assert os.listdir(spool) == [], "no temporary file left"
    return caught.value


async def test_an_executable_renamed_jpg_is_415(store: FilesystemStorage, spool: Path) -> None:
    error = await refused(store, spool, EXECUTABLE, name="photo.jpg")
    assert (error.status, error.code) == (415, "unsupported_type")
    assert "application/x-executable" not in error.message  # says what is allowed instead
    assert "image/jpeg" in error.message and "declared image/jpeg" in error.message


async def test_a_text_file_is_415(store: FilesystemStorage, spool: Path) -> None:
    error = await refused(store, spool, b"<html><script>alert(1)</script></html>")
    assert error.status == 415


async def test_a_decompression_bomb_is_413_before_decoding(
    store: FilesystemStorage, spool: Path
) -> None:
    data = bomb_png(11_000, 11_000)  # 121 megapixels in ~15 KB
    assert len(data) < 50_000
    error = await refused(store, spool, data, name="bomb.png")
    assert (error.status, error.code, error.limit) == (413, "too_many_pixels", 50_000_000)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
async def test_a_photo_just_past_a_12_megapixel_limit_is_413(
    store: FilesystemStorage, spool: Path
) -> None:
    policy = UploadPolicy(max_pixels=12_000_000)
    error = await refused(store, spool, bomb_png(4_100, 3_000), name="b.png", policy=policy)
    assert (error.status, error.code, error.limit) == (413, "too_many_pixels", 12_000_000)
    assert "4100x3000" in error.message


async def test_a_truncated_jpeg_is_422(store: FilesystemStorage, spool: Path) -> None:
    data = jpeg_bytes(640, 480)
    error = await refused(store, spool, data[: int(len(data) * 0.6)])
    assert (error.status, error.code) == (422, "corrupt_image")
    assert "truncated" in error.message


async def test_an_empty_file_is_422(store: FilesystemStorage, spool: Path) -> None:
    assert (await refused(store, spool, b"")).code == "empty_file"


async def test_an_11_mb_photo_is_413_and_not_read_to_the_end(
    store: FilesystemStorage, spool: Path
) -> None:
    limit = POLICY.max_photo_bytes
    head = jpeg_bytes(64, 64)
    consumed = 0

    async def eleven_megabytes() -> AsyncIterator[bytes]:
        nonlocal consumed
        yield head
        while consumed < 11 * 1024 * 1024:
            consumed += 64 * 1024
            yield bytes(64 * 1024)

    with pytest.raises(UploadRefused) as caught:
        await receive_upload(
            eleven_megabytes(),
            filename="big.jpg",
            content_type="image/jpeg",
            policy=POLICY,
            storage=store,
            tmp_root=spool,
        )
    error = caught.value
    assert (error.status, error.code, error.limit) == (413, "photo_too_large", limit)
    assert "10 MiB" in error.message
    assert consumed <= limit + 64 * 1024, "refused as the limit was crossed, not at the end"
    assert blobs_under(store.root) == [] and os.listdir(spool) == []


async def test_a_video_has_its_own_larger_limit(store: FilesystemStorage, spool: Path) -> None:
    policy = UploadPolicy(max_photo_bytes=2048, max_video_bytes=8192)
    error = await refused(store, spool, jpeg_bytes(64, 64, seed=3), policy=policy)
    assert (error.code, error.limit) == ("photo_too_large", 2048)
    meta = await upload(store, spool, mp4_bytes(4000), name="c.mp4", policy=policy)
    assert meta.kind is Kind.MP4 and meta.size > 2048


async def test_a_kind_the_policy_leaves_out_is_415(store: FilesystemStorage, spool: Path) -> None:
    photos_only = UploadPolicy(allowed=frozenset({Kind.JPEG, Kind.PNG, Kind.HEIC, Kind.HEIF}))
    error = await refused(store, spool, mp4_bytes(), name="c.mp4", policy=photos_only)
    assert error.status == 415 and "video/mp4" in error.message
