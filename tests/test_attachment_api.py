"""Attachments through the real API (uvicorn on loopback, the production worker on the
Temporal test server, the test database): hostile uploads are refused with a 4xx naming
the limit and store nothing; a report cites its photos by id; links are minted only for
the case's readers, originals (with EXIF) only for the center."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from temporalio.testing import WorkflowEnvironment

from services.platform.db import SessionFactory
from services.platform.geo import GridIndex
from settings import Settings
from tests.attachment_api_support import api_server, rows_by, store_settings, upload
from tests.attachment_support import (
    EXECUTABLE,
    blobs_under,
    bomb_png,
    jpeg_bytes,
    phone_exif,
    png_bytes,
)
from tests.security_support import bearer
from tests.support import grid_point, track

pytestmark = pytest.mark.usefixtures("worker", "off_duty")


@pytest.fixture
async def api_base(
    env: WorkflowEnvironment, sessions: SessionFactory, settings: Settings, tmp_path: Path
) -> AsyncIterator[str]:
    async with api_server(store_settings(settings, tmp_path / "store"), env.client, sessions) as b:
        yield b


def steward() -> str:
    return f"S-att-{uuid.uuid4().hex[:8]}"


HOSTILE = {
    "png_named_jpg": ([("shot.jpg", png_bytes(), "image/jpeg")], 415, "name_mismatch"),
    "executable_named_jpg": ([("photo.jpg", EXECUTABLE, "image/jpeg")], 415, "unsupported_type"),
    "12_megapixel_bomb": (
        [("b.png", bomb_png(4000, 3000), "image/png")],
        413,
        "decompression_bomb",
    ),
    "truncated_jpeg": (
        [("cut.jpg", jpeg_bytes(640, 480)[:20_000], "image/jpeg")],
        422,
        "corrupt_image",
    ),
    "ten_photos": (
        [(f"p{i}.jpg", jpeg_bytes(64, 64, seed=i), "image/jpeg") for i in range(10)],
        413,
        "too_many_files",
    ),
    "eleven_mb": (
        [("big.jpg", jpeg_bytes(64, 64) + bytes(11 * 1024 * 1024), "image/jpeg")],
        413,
        "photo_too_large",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_hostile_upload_is_a_clear_4xx_and_stores_nothing(
    case: str,
    api_base: str,
    http: httpx.AsyncClient,
    settings: Settings,
    sessions: SessionFactory,
    tmp_path: Path,
) -> None:
    files, status, code = HOSTILE[case]
    who = steward()
    answer = await upload(http, api_base, bearer(settings, "steward", who), files)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == code and body["fields"] == ["body.files"]
    if status == 413:  # the limit is named with its number
        assert any(ch.isdigit() for ch in body["message"])
    assert blobs_under(tmp_path / "store") == []
    assert await rows_by(sessions, f"steward:{who}") == []


async def test_a_report_cites_its_photos_and_links_follow_who_may_read(
    api_base: str,
    http: httpx.AsyncClient,
    settings: Settings,
    sessions: SessionFactory,
    grids: GridIndex,
    tmp_path: Path,
) -> None:
    reporter, other = steward(), steward()
    mine = bearer(settings, "steward", reporter)
    photo = jpeg_bytes(1200, 900, exif=phone_exif(), seed=7)
    answer = await upload(
        http,
        api_base,
        mine,
        [("a.jpg", photo, "image/jpeg"), ("b.jpg", jpeg_bytes(800, 600, seed=8), "image/jpeg")],
    )
    assert answer.status_code == 201, answer.text
    first, second = answer.json()["items"]
    again = await upload(http, api_base, mine, [("a-again.jpg", photo, "image/jpeg")])
    assert again.json()["items"][0]["sha256"] == first["sha256"]
    rows = await rows_by(sessions, f"steward:{reporter}")
    blobs = {r[k] for r in rows for k in ("sha256", "public_sha256", "thumb_sha256")}
    # three uploads, two photos: each blob (original, stripped copy, thumbnail) stored once
    assert len(rows) == 3 and len({r["sha256"] for r in rows}) == 2
    assert sorted(blobs_under(tmp_path / "store")) == sorted(blobs)

    at = grid_point(grids, "G030")
    cited: list[dict[str, str]] = [{"kind": "photo", "attachment_id": first["id"]}]
    report = {
        "case_type": "illegal_parking",
        "location": {"lat": at.lat, "lon": at.lon},
        "evidence": cited,
    }
    theirs = bearer(settings, "steward", other)
    stolen = await http.post(f"{api_base}/cases", json=report, headers=theirs)
    assert stolen.status_code == 422 and first["id"] in stolen.json()["message"]
    missing = {**report, "evidence": [{"kind": "photo", "attachment_id": "0" * 32}]}
    assert (await http.post(f"{api_base}/cases", json=missing, headers=mine)).status_code == 422

    cited.append({"kind": "photo", "attachment_id": second["id"]})
    created = await http.post(f"{api_base}/cases", json=report, headers=mine)
    assert created.status_code == 202, created.text
    case_id = track(created.json()["case_id"])
    owners = {r["id"]: r["owner_id"] for r in await rows_by(sessions, f"steward:{reporter}")}
    assert owners[first["id"]] == owners[second["id"]] == case_id

    center = bearer(settings, "supervisor", "center-li")
    link = await http.get(
        f"{api_base}/attachments/{first['id']}", params={"variant": "original"}, headers=center
    )
    assert link.status_code == 200 and link.json()["variant"] == "original"
    original = await http.get(api_base + link.json()["url"])
    assert original.status_code == 200 and original.content == photo  # EXIF and all
    thumb_link = (await http.get(f"{api_base}/attachments/{first['id']}", headers=center)).json()
    thumb = await http.get(api_base + thumb_link["url"])
    assert thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= settings.upload_thumbnail_px

    asked = await http.get(
        f"{api_base}/attachments/{first['id']}", params={"variant": "original"}, headers=mine
    )
    assert asked.json()["variant"] == "public"  # the reporter: stripped, never the original
    public = await http.get(api_base + asked.json()["url"])
    assert Image.open(io.BytesIO(public.content)).getexif().get_ifd(0x8825) == {}
    refused = await http.get(f"{api_base}/attachments/{first['id']}", headers=theirs)
    assert refused.status_code == 403
    forged = thumb_link["url"].replace("/thumb?", "/original?")
    assert (await http.get(api_base + forged)).status_code == 403


async def test_an_upload_that_stalls_is_408_and_stores_nothing(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """A phone that sends part of a photo and goes silent: answered 408 while it is silent
    (a raw connection, so the client reads the answer without sending the rest)."""
    quick = store_settings(settings, tmp_path / "store", upload_timeout_seconds=0.5)
    who = steward()
    boundary = "stall-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + jpeg_bytes(64, 64)[:200]
    async with api_server(quick, env.client, sessions) as base:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        token = bearer(settings, "steward", who)["Authorization"]
        request = (
            f"POST /attachments HTTP/1.1\r\nHost: {host}\r\nAuthorization: {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + 100_000}\r\n\r\n"
        ).encode()
        writer.write(request + head)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
        rest = b""
        while b'"timeout"' not in rest:  # headers and body may come in separate reads
            chunk = await asyncio.wait_for(reader.read(4096), 30)
            if not chunk:
                break
            rest += chunk
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 408"), status_line
    assert b'"timeout"' in rest
    assert blobs_under(tmp_path / "store") == []
    assert await rows_by(sessions, f"steward:{who}") == []
