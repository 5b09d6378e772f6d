"""attachment: metadata of uploaded photos and videos (issue 16)

The bytes are in content-addressed storage (filesystem or S3) under their sha256; this
table records each upload, its variants' addresses, its EXIF evidence and its owner.

``IF NOT EXISTS``: until ``schemas.cases.tables`` imports ``schemas.attachments.tables`` (next
round, after the issue-14 restructure), a test run that never imports the model resets the
database with ``SQLModel.metadata.drop_all``, which leaves this table behind while dropping
``alembic_version``; the following ``upgrade`` must not fail on it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_kind", sa.String(length=20), nullable=True),
        sa.Column("owner_id", sa.String(length=100), nullable=True),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("uploaded_by", sa.String(length=140), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("declared_name", sa.String(length=200), nullable=False),
        sa.Column("declared_type", sa.String(length=100), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exif_lat", sa.Float(), nullable=True),
        sa.Column("exif_lon", sa.Float(), nullable=True),
        sa.Column("public_sha256", sa.String(length=64), nullable=True),
        sa.Column("public_kind", sa.String(length=20), nullable=True),
        sa.Column("thumb_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index("ix_attachment_owner_id", "attachment", ["owner_id"], if_not_exists=True)
    op.create_index("ix_attachment_sha256", "attachment", ["sha256"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_attachment_sha256", table_name="attachment")
    op.drop_index("ix_attachment_owner_id", table_name="attachment")
    op.drop_table("attachment")
