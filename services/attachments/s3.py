"""S3-compatible blob storage (MinIO, Alibaba OSS, AWS S3) behind ``Storage``.

``put`` streams the upload into a temporary object (``tmp/<uuid>``) as a multipart upload
of ``PART_BYTES`` parts, hashing as it goes: memory per upload is one part, whatever the
file's size. Once the digest is known the temporary object is copied server-side to its
content address (skipped when that blob already exists) and deleted. A blob smaller than
one part is written straight to its address: its digest is known before the first write.

boto3 is synchronous; every call runs in a thread (``asyncio.to_thread``). It is the one
client that speaks to all three services (OSS and MinIO both implement the S3 API boto3
uses, with ``endpoint_url``), and it is AWS's own, released weekly.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from services.attachments.storage import Blob, BlobMissing, blob_key
from settings import Settings

PART_BYTES = 5 * 1024 * 1024  # S3's smallest part (except the last)
READ_BYTES = 256 * 1024


def client_from_settings(settings: Settings) -> Any:
    """A boto3 S3 client for the configured endpoint (path-style: MinIO and test servers
    have no per-bucket DNS names)."""
    secret = settings.attachments_s3_secret_access_key
    return boto3.client(
        "s3",
        endpoint_url=settings.attachments_s3_endpoint_url,
        region_name=settings.attachments_s3_region,
        aws_access_key_id=settings.attachments_s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )


def _missing(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Blobs as objects ``sha256/ab/cd/<sha256>`` in one bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    async def put(self, chunks: AsyncIterable[bytes]) -> Blob:
        digest = hashlib.sha256()
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        tmp_key = f"tmp/{uuid.uuid4().hex}"
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                if len(buffer) >= PART_BYTES:
                    if upload_id is None:
                        upload_id = await self._call(
                            "create_multipart_upload", Bucket=self.bucket, Key=tmp_key
                        )
                    parts.append(await self._part(tmp_key, upload_id, len(parts) + 1, buffer))
                    buffer = bytearray()
            sha256 = digest.hexdigest()
            key = blob_key(sha256)
            if upload_id is None:  # small: written straight to its address
                if await self.exists(sha256):
                    return Blob(sha256, size, created=False)
                await self._put_object(key, bytes(buffer))
                return Blob(sha256, size, created=True)
            if buffer:
                parts.append(await self._part(tmp_key, upload_id, len(parts) + 1, buffer))
            await asyncio.to_thread(
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=tmp_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            upload_id = None
            if await self.exists(sha256):
                return Blob(sha256, size, created=False)
            await asyncio.to_thread(
                self.client.copy_object,
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": tmp_key},
            )
            return Blob(sha256, size, created=True)
        finally:
            if upload_id is not None:
                await asyncio.to_thread(
                    self.client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=tmp_key,
                    UploadId=upload_id,
                )
            if parts:
                await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=tmp_key)

    async def _call(self, name: str, **kwargs: Any) -> str:
        answer = await asyncio.to_thread(getattr(self.client, name), **kwargs)
        return str(answer["UploadId"])

    async def _part(self, key: str, upload_id: str, number: int, data: bytearray) -> dict[str, Any]:
        answer = await asyncio.to_thread(
            self.client.upload_part,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=bytes(data),
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    async def _put_object(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self.client.put_object, Bucket=self.bucket, Key=key, Body=data)

    async def open(self, sha256: str) -> AsyncIterator[bytes]:
        try:
            answer = await asyncio.to_thread(
                self.client.get_object, Bucket=self.bucket, Key=blob_key(sha256)
            )
        except ClientError as error:
            if _missing(error):
                raise BlobMissing(sha256) from error
            raise
        body = answer["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, READ_BYTES):
                yield chunk
        finally:
            body.close()

    async def exists(self, sha256: str) -> bool:
        try:
            await asyncio.to_thread(
                self.client.head_object, Bucket=self.bucket, Key=blob_key(sha256)
            )
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=blob_key(sha256))

    def presigned_get(
        self, sha256: str, ttl_seconds: int, *, content_type: str, filename: str
    ) -> str:
        """A GET URL the object store itself honours for ``ttl_seconds`` (lets a page fetch
        a large video from the bucket directly); the service's own HMAC link
        (``services.attachments.signing``) is the default."""
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": blob_key(sha256),
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": f'inline; filename="{filename}"',
                },
                ExpiresIn=ttl_seconds,
            )
        )
