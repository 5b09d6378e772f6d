"""Multipart uploads and signed download links end to end: a tiny FastAPI app on uvicorn,
on a loopback port, driven by httpx over real HTTP.

The app is the shape the next round's routes take (``receive_multipart`` on the request's
byte stream, ``UploadRefused`` -> its status and detail, ``verify_link`` before streaming a
blob), kept in this file so the groundwork is proven without touching ``api/``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import SecretStr

from services.attachments import FilesystemStorage, Kind, UploadPolicy, UploadRefused
from services.attachments.multipart import receive_multipart
from services.attachments.receive import AttachmentMeta
from services.attachments.signing import LinkRefused, Variant, sign_link, variant_for, verify_link
from tests.attachment_support import (
    EXECUTABLE,
    blobs_under,
    free_port,
    heic_bytes,
    jpeg_bytes,
    multipart_files,
    phone_exif,
    png_bytes,
)

SECRET = SecretStr("k" * 40)
TTL = 300


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.chunks = []

    @app.post("/uploads")
    async def upload(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            async for chunk in request.stream():
                app.state.chunks.append(len(chunk))
                yield chunk

        try:
            form = await receive_multipart(
                body(),
                request.headers.get("content-type"),
                policy=app.state.policy,
                storage=app.state.storage,
                tmp_root=app.state.spool,
                content_length=request.headers.get("content-length"),
            )
        except UploadRefused as refusal:
            return JSONResponse({"detail": refusal.detail()}, status_code=refusal.status)
        for meta in form.files:
            app.state.index[meta.sha256] = meta
        return JSONResponse(
            {"files": [m.model_dump(mode="json") for m in form.files], "fields": form.fields},
            status_code=201,
        )

    @app.get("/attachments/{attachment_id}/{variant}")
    async def download(attachment_id: str, variant: str, exp: str, sig: str) -> Response:
        try:
            which = verify_link(
                SECRET, attachment_id, variant, exp, sig, now=time.time(), max_ttl_seconds=TTL
            )
        except LinkRefused as refusal:
            return JSONResponse({"detail": refusal.message}, status_code=refusal.status)
        meta: AttachmentMeta = app.state.index[attachment_id]
        sha, kind = {
            Variant.ORIGINAL: (meta.sha256, meta.kind),
            Variant.PUBLIC: (meta.public_sha256, meta.public_kind),
            Variant.THUMB: (meta.thumb_sha256, Kind.JPEG),
        }[which]
        assert sha is not None and kind is not None
        return StreamingResponse(app.state.storage.open(sha), media_type=kind.value)

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FastAPI]]:
    app = make_app()
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def app_state(server: tuple[str, FastAPI], tmp_path: Path) -> tuple[str, FastAPI, Path]:
    """A fresh store and spool per test, so 'nothing stored' is checked on this test alone."""
    base, app = server
    app.state.storage = FilesystemStorage(tmp_path / "store")
    app.state.spool = tmp_path / "spool"
    app.state.spool.mkdir()
    app.state.policy = UploadPolicy()
    app.state.index = {}
    app.state.chunks = []
    return base, app, tmp_path


async def post(base: str, files: list[tuple[str, bytes, str]], **data: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(f"{base}/uploads", files=multipart_files(files), data=data)


def assert_nothing_stored(tmp_path: Path) -> None:
    assert blobs_under(tmp_path / "store") == []
    assert list((tmp_path / "spool").iterdir()) == []


async def test_a_report_with_three_photos_and_a_caption_is_stored(
    app_state: tuple[str, FastAPI, Path],
) -> None:
    base, app, tmp_path = app_state
    big = jpeg_bytes(1600, 1200, exif=phone_exif())  # ~1.5 MB: arrives in many chunks
    answer = await post(
        base,
        [
            ("IMG_0001.jpg", big, "image/jpeg"),
            ("shot.jpg", png_bytes(), "image/jpeg"),
            ("IMG_0002.HEIC", heic_bytes(), "image/heic"),
        ],
        description="占用消防通道",
    )
    assert answer.status_code == 201, answer.text
    files: list[dict[str, Any]] = answer.json()["files"]
    assert [f["kind"] for f in files] == ["image/jpeg", "image/png", "image/heic"]
    assert [f["declared_name"] for f in files] == ["IMG_0001.jpg", "shot.jpg", "IMG_0002.HEIC"]
    assert files[0]["gps_lat"] is not None and files[0]["size"] == len(big)
    assert answer.json()["fields"] == {"description": "占用消防通道"}
    # 3 originals, 3 public copies, 3 thumbnails; the PNG had no metadata, so its public
    # copy is byte-identical to the original and content addressing stores it once
    assert files[1]["public_sha256"] == files[1]["sha256"]
    assert len(blobs_under(tmp_path / "store")) == 8
    assert len(app.state.chunks) > 4, "the body was consumed as a stream of chunks"
    assert max(app.state.chunks) < len(big)


async def test_ten_photos_where_nine_are_allowed_is_413_and_stores_nothing(
    app_state: tuple[str, FastAPI, Path],
) -> None:
    base, _, tmp_path = app_state
    photos = [(f"p{i}.jpg", jpeg_bytes(64, 64, seed=i), "image/jpeg") for i in range(10)]
    answer = await post(base, photos)
    assert answer.status_code == 413
    assert answer.json()["detail"]["code"] == "too_many_files"
    assert answer.json()["detail"]["limit"] == 9
    assert_nothing_stored(tmp_path)
    assert (await post(base, photos[:9])).status_code == 201


async def test_one_hostile_file_among_photos_refuses_the_whole_form(
    app_state: tuple[str, FastAPI, Path],
) -> None:
    base, _, tmp_path = app_state
    answer = await post(
        base,
        [("a.jpg", jpeg_bytes(64, 64), "image/jpeg"), ("b.jpg", EXECUTABLE, "image/jpeg")],
    )
    assert answer.status_code == 415
    assert answer.json()["detail"]["code"] == "unsupported_type"
    assert_nothing_stored(tmp_path)


async def test_a_body_that_is_not_multipart_is_415(app_state: tuple[str, FastAPI, Path]) -> None:
    base, _, tmp_path = app_state
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{base}/uploads", content=jpeg_bytes(64, 64))
    assert answer.status_code == 415
    assert "multipart/form-data" in answer.json()["detail"]["message"]
    assert_nothing_stored(tmp_path)


async def test_signed_links_open_their_variant_and_nothing_else(
    app_state: tuple[str, FastAPI, Path],
) -> None:
    base, _, _ = app_state
    photo = jpeg_bytes(640, 480, exif=phone_exif())
    stored = (await post(base, [("a.jpg", photo, "image/jpeg")])).json()["files"][0]
    sha = stored["sha256"]
    now = time.time()

    def link(variant: Variant, at: float = now, ttl: int = TTL) -> str:
        query = sign_link(SECRET, sha, variant, now=at, ttl_seconds=ttl)
        return f"{base}/attachments/{sha}/{variant.value}?exp={query['exp']}&sig={query['sig']}"

    async with httpx.AsyncClient() as client:
        original = await client.get(link(Variant.ORIGINAL))
        assert original.status_code == 200 and original.content == photo
        public = await client.get(link(Variant.PUBLIC))
        assert public.status_code == 200 and b"TestPhone" not in public.content
        assert (await client.get(link(Variant.THUMB))).headers["content-type"] == "image/jpeg"
        # the signature of the public copy does not open the original
        forged = link(Variant.PUBLIC).replace("/public?", "/original?")
        assert (await client.get(forged)).status_code == 403
        assert (await client.get(link(Variant.PUBLIC, at=now - TTL - 1))).status_code == 410
        too_long = await client.get(link(Variant.PUBLIC, ttl=TTL * 100))
        assert too_long.status_code == 403
        wrong_key = sign_link(SecretStr("x" * 40), sha, Variant.ORIGINAL, now=now, ttl_seconds=60)
        url = f"{base}/attachments/{sha}/original?exp={wrong_key['exp']}&sig={wrong_key['sig']}"
        assert (await client.get(url)).status_code == 403


def test_only_the_center_is_given_originals() -> None:
    assert variant_for("supervisor", Variant.ORIGINAL) is Variant.ORIGINAL
    for role in ("steward", "department", "inspector", "system", "citizen", "enterprise", "center"):
        assert variant_for(role, Variant.ORIGINAL) is Variant.PUBLIC
        assert variant_for(role, Variant.THUMB) is Variant.THUMB


async def test_a_body_declared_larger_than_any_form_is_413_before_reading(
    app_state: tuple[str, FastAPI, Path],
) -> None:
    base, app, tmp_path = app_state
    app.state.policy = UploadPolicy(max_photo_bytes=4096, max_video_bytes=4096, max_files=2)
    photo = jpeg_bytes(1600, 1200)  # ~1.5 MB: far more than 2 x 4 KB + headers and fields
    answer = await post(base, [("a.jpg", photo, "image/jpeg")])
    assert answer.status_code == 413
    detail = answer.json()["detail"]
    assert detail["code"] == "request_too_large" and detail["limit"] < len(photo)
    assert app.state.chunks == [], "refused on the header, before reading the body"
    assert_nothing_stored(tmp_path)


async def test_an_11_mb_photo_in_a_form_is_413_and_stores_nothing(
    app_state: tuple[str, FastAPI, Path],
) -> None:
    base, app, tmp_path = app_state
    head = jpeg_bytes(64, 64)
    eleven_mb = head + bytes(11 * 1024 * 1024 - len(head))
    answer = await post(base, [("big.jpg", eleven_mb, "image/jpeg")])
    assert answer.status_code == 413
    detail = answer.json()["detail"]
    assert (detail["code"], detail["limit"]) == ("photo_too_large", 10 * 1024 * 1024)
    assert sum(app.state.chunks) < len(eleven_mb), "refused before the end of the body"
    assert_nothing_stored(tmp_path)
