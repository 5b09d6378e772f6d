"""Migration 0013 creates exactly the ``attachment`` table the model declares, a stored
upload round-trips through it, and downgrading to 0012 removes it.

Runs on a fresh SQLite file, and also on PostgreSQL when ``GRIDPLUS_TEST_DATABASE_URL``
points at one (the migration is applied to that database, then downgraded again).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from schemas.attachments.tables import Attachment
from services.attachments import FilesystemStorage, UploadPolicy, receive_upload
from services.attachments.records import attachment_row
from services.platform.db import make_engine
from services.platform.migrate import alembic_config, upgrade
from tests.attachment_support import GPS_LAT, jpeg_bytes, phone_exif, stream
from tests.migration_support import database_url

__all__ = ["database_url"]  # a fixture, imported


def attachment_diffs(connection: Connection) -> list[object]:
    """Differences between the database and the model, for the attachment table only."""
    wanted = MetaData()
    Attachment.__table__.to_metadata(wanted)  # type: ignore[attr-defined]
    context = MigrationContext.configure(connection)
    diffs = compare_metadata(context, wanted)
    return [d for d in diffs if "attachment" in repr(d) and "remove_table" not in repr(d)]


def downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_0013_creates_the_model_table_and_downgrades(
    database_url: str, tmp_path: Path
) -> None:
    await upgrade(database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert "attachment" in await connection.run_sync(
                lambda sync: inspect(sync).get_table_names()
            )
            assert await connection.run_sync(attachment_diffs) == []

        meta = await receive_upload(
            stream(jpeg_bytes(exif=phone_exif())),
            filename="IMG_0001.jpg",
            content_type="image/jpeg",
            policy=UploadPolicy(),
            storage=FilesystemStorage(tmp_path / "store"),
            tmp_root=tmp_path,
        )
        attachment_id = uuid.uuid4().hex
        row = attachment_row(
            meta,
            attachment_id=attachment_id,
            purpose="report",
            uploaded_by="steward:S0001",
            uploaded_at=datetime.now(UTC),
        )
        async with AsyncSession(engine) as session:
            session.add(row)
            await session.commit()
        async with AsyncSession(engine) as session:
            stored = (
                await session.exec(select(Attachment).where(Attachment.sha256 == meta.sha256))
            ).one()
            assert stored.id == attachment_id and stored.kind == "image/jpeg"
            assert stored.exif_lat == pytest.approx(GPS_LAT, abs=1e-6)
            assert stored.thumb_sha256 == meta.thumb_sha256
            assert stored.taken_at is not None

        async with engine.begin() as connection:
            await connection.run_sync(downgrade, "0012")
        async with engine.connect() as connection:
            assert "attachment" not in await connection.run_sync(
                lambda sync: inspect(sync).get_table_names()
            )
    finally:
        await engine.dispose()
        await upgrade(database_url)  # a shared PostgreSQL is left at head, as found


def test_a_row_refuses_an_unknown_purpose() -> None:
    from services.attachments.policy import Kind
    from services.attachments.receive import AttachmentMeta

    meta = AttachmentMeta(
        sha256="0" * 64, size=1, kind=Kind.JPEG, declared_name="a.jpg", declared_type=None
    )
    with pytest.raises(ValueError, match="purpose"):
        attachment_row(
            meta,
            attachment_id="x",
            purpose="selfie",
            uploaded_by="steward:S1",
            uploaded_at=datetime.now(UTC),
        )
