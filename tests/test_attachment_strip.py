"""Lossless metadata removal (``services.attachments.strip``): pixels identical, metadata and
whatever a phone appends after the image gone, for every way Pillow (libjpeg) encodes."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from services.attachments.strip import StripError, strip_jpeg, strip_png
from tests.attachment_support import jpeg_bytes, noise_image, phone_exif


def stripped(data: bytes, orientation: int = 1) -> bytes:
    out = io.BytesIO()
    strip_jpeg(io.BytesIO(data), out, orientation=orientation)
    return out.getvalue()


def pixels(data: bytes) -> bytes:
    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 90),
    height=st.integers(1, 90),
    quality=st.integers(30, 100),
    progressive=st.booleans(),
    optimize=st.booleans(),
    restart=st.sampled_from([0, 1, 3]),
    seed=st.integers(0, 1000),
)
def test_stripping_keeps_every_pixel_and_drops_the_exif(
    width: int,
    height: int,
    quality: int,
    progressive: bool,
    optimize: bool,
    restart: int,
    seed: int,
) -> None:
    out = io.BytesIO()
    options: dict[str, object] = {"quality": quality, "progressive": progressive}
    options["optimize"] = optimize
    if restart:
        options["restart_marker_blocks"] = restart
    noise_image(width, height, seed).save(out, "JPEG", exif=phone_exif(), **options)
    original = out.getvalue()
    result = stripped(original)
    assert pixels(result) == pixels(original)
    assert b"Exif" not in result and b"TestPhone" not in result
    assert result.endswith(b"\xff\xd9")


def test_whatever_follows_the_end_of_image_is_left_out() -> None:
    """Phones append preview/depth images (with their own EXIF) or a motion-photo video."""
    trailer = jpeg_bytes(32, 32, exif=phone_exif(), seed=9) + b"SEFHmotion-photo-trailer"
    photo = jpeg_bytes(64, 48)
    result = stripped(photo + trailer)
    assert result == photo[: len(photo)]  # no metadata in ``photo``: byte-identical
    assert b"TestPhone" not in result and b"SEFH" not in result


def test_the_icc_profile_stays_and_mpf_goes() -> None:
    icc = b"ICC_PROFILE\x00\x01\x01" + bytes(100)
    mpf = b"MPF\x00" + bytes(40)
    photo = jpeg_bytes(32, 32)

    def app2(payload: bytes) -> bytes:
        return b"\xff\xe2" + (len(payload) + 2).to_bytes(2, "big") + payload

    result = stripped(photo[:2] + app2(icc) + app2(mpf) + photo[2:])
    assert icc in result and mpf not in result
    assert pixels(result) == pixels(photo)


def test_an_orientation_is_carried_over_alone() -> None:
    result = stripped(jpeg_bytes(40, 20, exif=phone_exif(orientation=8)), orientation=8)
    exif = Image.open(io.BytesIO(result)).getexif()
    assert dict(exif) == {0x0112: 8}


@pytest.mark.parametrize("cut", [0.05, 0.5, 0.99])
def test_a_truncated_jpeg_is_refused(cut: float) -> None:
    photo = jpeg_bytes(64, 64)
    with pytest.raises(StripError):
        stripped(photo[: int(len(photo) * cut)])


def test_png_text_chunks_go_and_pixels_stay() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("Comment", "拍摄于乌镇", zip=True)
    source = io.BytesIO()
    noise_image(30, 20).save(source, "PNG", pnginfo=info)
    out = io.BytesIO()
    strip_png(io.BytesIO(source.getvalue()), out)
    assert b"iTXt" in source.getvalue() and b"iTXt" not in out.getvalue()
    assert pixels(out.getvalue()) == pixels(source.getvalue())
