"""detection: pending / batch_id / batch_at, for coalesced updates to cases (issue 18)

Later detections of an open scene are recorded with ``pending`` and reach their case as one
coalesced update per flush (``services.intake.coalesce``); a flusher claims them by setting
``batch_id`` (the update's id) and ``batch_at``. The partial index keeps the flusher's scan
to the rows still waiting, however large the audit table grows.

Revision ID: 0021
Revises: 0015
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("detection") as batch:
        batch.add_column(
            sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("batch_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("batch_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_detection_pending",
        "detection",
        ["case_id", "id"],
        postgresql_where=sa.text("pending"),
        sqlite_where=sa.text("pending"),
    )


def downgrade() -> None:
    op.drop_index("ix_detection_pending", table_name="detection")
    with op.batch_alter_table("detection") as batch:
        batch.drop_column("batch_at")
        batch.drop_column("batch_id")
        batch.drop_column("pending")
