"""One storage suite, two backends: the filesystem and S3 (moto's server on loopback).

Each test runs against both (``storage`` is parametrised), so the production backend and
the ``make run`` one are held to the same contract: content addresses, streaming puts
larger than one S3 part, one copy of repeated bytes, nothing left behind by a failed put.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from pydantic import SecretStr

from services.attachments import UploadPolicy, receive_upload, storage_from_settings
from services.attachments.s3 import PART_BYTES, S3Storage
from services.attachments.storage import (
    BlobMissing,
    FilesystemStorage,
    Storage,
    blob_key,
    check_sha256,
)
from settings import Settings
from tests.attachment_support import (
    blobs_under,
    jpeg_bytes,
    phone_exif,
    start_moto_server,
    stream,
)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    yield from start_moto_server()


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(params=["filesystem", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "filesystem":
        return FilesystemStorage(tmp_path / "attachments")
    client = s3_client(request.getfixturevalue("s3_endpoint"))
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return S3Storage(client, bucket)


def stored_keys(storage: Storage) -> list[str]:
    """Every object or file the backend holds, temporary ones included."""
    if isinstance(storage, FilesystemStorage):
        return [
            os.path.relpath(os.path.join(folder, name), storage.root)
            for folder, _, names in os.walk(storage.root)
            for name in names
        ]
    assert isinstance(storage, S3Storage)
    answer = storage.client.list_objects_v2(Bucket=storage.bucket)
    return [item["Key"] for item in answer.get("Contents", [])]


async def read_all(storage: Storage, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in storage.open(sha256)])


async def test_put_returns_the_content_address_and_reads_back(storage: Storage) -> None:
    data = os.urandom(300_000)
    blob = await storage.put(stream(data))
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert (blob.size, blob.created) == (len(data), True)
    assert await storage.exists(blob.sha256)
    assert await read_all(storage, blob.sha256) == data
    assert stored_keys(storage) == [blob_key(blob.sha256)]


async def test_a_put_larger_than_one_s3_part_streams_and_reads_back(storage: Storage) -> None:
    data = os.urandom(2 * PART_BYTES + 12_345)  # three parts on S3
    blob = await storage.put(stream(data, chunk=64 * 1024))
    assert (blob.sha256, blob.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert hashlib.sha256(await read_all(storage, blob.sha256)).hexdigest() == blob.sha256
    assert stored_keys(storage) == [blob_key(blob.sha256)], "the temporary object is gone"


@pytest.mark.parametrize("size", [50_000, PART_BYTES + 1])
async def test_the_same_bytes_twice_are_stored_once(storage: Storage, size: int) -> None:
    data = os.urandom(size)
    first = await storage.put(stream(data))
    second = await storage.put(stream(data, chunk=10_000))
    assert first.sha256 == second.sha256
    assert (first.created, second.created) == (True, False)
    assert stored_keys(storage) == [blob_key(first.sha256)]


async def test_a_put_whose_stream_fails_leaves_nothing(storage: Storage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(PART_BYTES)  # past the first part: a multipart upload is open
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.put(broken())
    assert stored_keys(storage) == []
    if isinstance(storage, S3Storage):
        uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket)
        assert uploads.get("Uploads", []) == [], "the multipart upload was aborted"


async def test_a_missing_blob_is_reported_as_missing(storage: Storage) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not await storage.exists(absent)
    with pytest.raises(BlobMissing):
        await read_all(storage, absent)


async def test_delete_removes_the_blob(storage: Storage) -> None:
    blob = await storage.put(stream(b"evidence"))
    await storage.delete(blob.sha256)
    assert not await storage.exists(blob.sha256)
    assert stored_keys(storage) == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "ab" * 31, ""])
async def test_an_address_that_is_not_a_sha256_is_refused(storage: Storage, bad: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        check_sha256(bad)
    with pytest.raises(ValueError, match="sha256"):
        await storage.exists(bad)


async def test_an_s3_presigned_get_opens_the_blob_and_expires(s3_endpoint: str) -> None:
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket="presign")
    storage = S3Storage(client, "presign")
    data = os.urandom(5000)
    blob = await storage.put(stream(data))
    url = storage.presigned_get(blob.sha256, 60, content_type="image/jpeg", filename="a.jpg")
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
        assert answer.status_code == 200
        assert answer.content == data
        assert answer.headers["content-type"] == "image/jpeg"
        tampered = url.replace(blob.sha256, hashlib.sha256(b"other").hexdigest())
        assert (await http.get(tampered)).status_code == 403


def test_filesystem_blobs_live_under_their_fan_out_folders(tmp_path: Path) -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    store = FilesystemStorage(tmp_path)
    assert store.path_of(sha) == tmp_path / "sha256" / sha[:2] / sha[2:4] / sha
    assert blobs_under(tmp_path) == []


async def test_receive_upload_stores_a_photo_and_its_variants(
    storage: Storage, tmp_path: Path
) -> None:
    """The upload path on each backend: three blobs, the original byte for byte."""
    data = jpeg_bytes(800, 600, exif=phone_exif())
    meta = await receive_upload(
        stream(data),
        filename="IMG_0001.jpg",
        content_type="image/jpeg",
        policy=UploadPolicy(),
        storage=storage,
        tmp_root=tmp_path,
    )
    assert meta.sha256 == hashlib.sha256(data).hexdigest()
    assert await read_all(storage, meta.sha256) == data
    assert meta.public_sha256 and meta.thumb_sha256
    assert sorted(stored_keys(storage)) == sorted(
        blob_key(sha) for sha in (meta.sha256, meta.public_sha256, meta.thumb_sha256)
    )


async def test_the_s3_backend_is_built_from_settings(s3_endpoint: str) -> None:
    settings = Settings(
        attachments_backend="s3",
        attachments_s3_endpoint_url=s3_endpoint,
        attachments_s3_bucket="from-settings",
        attachments_s3_access_key_id="test",
        attachments_s3_secret_access_key=SecretStr("test"),
    )
    storage = storage_from_settings(settings)
    assert isinstance(storage, S3Storage)
    storage.client.create_bucket(Bucket="from-settings")
    blob = await storage.put(stream(b"configured"))
    assert await read_all(storage, blob.sha256) == b"configured"
    local = storage_from_settings(Settings())
    assert isinstance(local, FilesystemStorage)
    assert local.root == Path(".data/attachments")
