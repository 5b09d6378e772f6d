"""Fifty phones uploading a 10 MB photo at once: throughput and the server's memory.

A tiny upload app (the shape of next round's route: ``receive_multipart`` on the request's
byte stream, filesystem storage) runs under uvicorn in a process of its own, as in
production. The benchmark process makes one 12-megapixel JPEG of just under 10 MB (random
pixels: they compress like real detail), gives each client its own copy (a unique comment
segment, so no two are deduplicated), warms the server with one upload, then starts all
clients at once and samples the server's RSS every 10 ms.

Prints: MB/s over the whole burst (bytes of photo received / wall time), the server's
baseline RSS after warm-up, its peak, and the growth, which streaming keeps small: bytes go
to disk as they arrive, and images are decoded at most ``--decode`` at a time (JPEGs at
reduced scale for the thumbnail). The brief's bar is a growth under 100 MiB. No assertion.

Usage: ``python -m bench.uploads [--clients 50] [--decode 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import struct
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from services.attachments import FilesystemStorage, UploadPolicy, UploadRefused
from services.attachments.images import set_decode_concurrency
from services.attachments.multipart import receive_multipart

MIB = 1024 * 1024
BOUNDARY = "bench-boundary-7f3a9c"


def upload_app(root: Path) -> FastAPI:
    """POST /uploads: a multipart form of photos, streamed into ``root``."""
    app = FastAPI()
    storage = FilesystemStorage(root / "store")
    policy = UploadPolicy()
    spool = root / "spool"
    spool.mkdir(parents=True, exist_ok=True)

    @app.post("/uploads")
    async def upload(request: Request) -> Response:
        try:
            form = await receive_multipart(
                request.stream(),
                request.headers.get("content-type"),
                policy=policy,
                storage=storage,
                tmp_root=spool,
            )
        except UploadRefused as refusal:
            return JSONResponse({"detail": refusal.detail()}, status_code=refusal.status)
        return JSONResponse({"sha256": [f.sha256 for f in form.files]}, status_code=201)

    return app


def photo_near(limit: int) -> bytes:
    """A 4000x3000 JPEG of random pixels, as large as fits under ``limit`` bytes."""
    from PIL import Image

    pixels = Image.frombytes("RGB", (4000, 3000), os.urandom(4000 * 3000 * 3))
    best = b""
    for quality in (80, 84, 86, 88, 90, 92):
        out = io.BytesIO()
        pixels.save(out, "JPEG", quality=quality)
        if out.tell() > limit - 4096:
            break
        best = out.getvalue()
    return best


def unique(photo: bytes, n: int) -> bytes:
    """The same picture with a comment segment naming client ``n`` (a different sha256)."""
    comment = f"bench client {n} {uuid.uuid4()}".encode()
    return photo[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + photo[2:]


async def body(photo: bytes, name: str) -> AsyncIterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    view = memoryview(photo)
    for start in range(0, len(photo), 64 * 1024):
        yield bytes(view[start : start + 64 * 1024])
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def send(client: httpx.AsyncClient, url: str, photo: bytes, name: str) -> None:
    answer = await client.post(
        url,
        content=body(photo, name),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    if answer.status_code != 201:
        raise RuntimeError(f"upload {name}: {answer.status_code} {answer.text}")


async def sample_rss(process: psutil.Process, stop: asyncio.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        await asyncio.sleep(0.01)


async def run(clients: int, decode: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-uploads-") as folder:
        port = 18000 + os.getpid() % 1000
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.uploads", "serve", folder, str(port), str(decode)
        )
        url = f"http://127.0.0.1:{port}/uploads"
        try:
            photo = photo_near(UploadPolicy().max_photo_bytes)
            copies = [unique(photo, n) for n in range(clients + 1)]
            limits = httpx.Limits(max_connections=clients + 1)
            async with httpx.AsyncClient(timeout=300, limits=limits) as client:
                for _ in range(200):
                    try:
                        await client.get(f"http://127.0.0.1:{port}/docs")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                await send(client, url, copies[-1], "warmup.jpg")
                process = psutil.Process(server.pid)
                baseline = process.memory_info().rss
                peak, stop = [baseline], asyncio.Event()
                sampler = asyncio.create_task(sample_rss(process, stop, peak))
                started = time.perf_counter()
                await asyncio.gather(
                    *(send(client, url, copies[n], f"IMG_{n:04d}.jpg") for n in range(clients))
                )
                elapsed = time.perf_counter() - started
                stop.set()
                await sampler
            total = sum(len(c) for c in copies[:clients])
            print(f"clients: {clients} at once, photo {len(photo) / 1e6:.2f} MB each")
            rate = total / 1e6 / elapsed
            print(f"uploaded: {total / 1e6:.0f} MB in {elapsed:.2f} s = {rate:.1f} MB/s")
            print(
                f"server RSS: baseline {baseline / MIB:.1f} MiB, peak {peak[0] / MIB:.1f} MiB, "
                f"growth {(peak[0] - baseline) / MIB:.1f} MiB (bar: < 100 MiB)"
            )
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), timeout=10)


def serve(folder: str, port: int, decode: int) -> None:
    set_decode_concurrency(decode)
    app = upload_app(Path(folder))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--decode", type=int, default=2, help="images decoded at once")
    args = parser.parse_args()
    asyncio.run(run(args.clients, args.decode))


if __name__ == "__main__":
    main()
