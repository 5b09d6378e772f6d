"""notification.position: the outbox's order, so messages go out FIFO per recipient

``position`` becomes the primary key (an auto-increment integer: a rowid alias on SQLite,
an identity column on PostgreSQL) and ``key`` a unique constraint; a partial index on
``(channel, recipient, position) WHERE delivered_at IS NULL`` serves the pending lookup.

Changing a primary key is a table rebuild on SQLite anyway, so both dialects do the same
thing: the old table is renamed aside, the new one created, the rows copied in the order
they were written (``created_at``, then ``key``: the order their positions follow) and the
old table dropped. Index names are schema-wide on both, so the old ones go first.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COPIED = "key, channel, recipient, case_id, kind, body, created_at, delivered_at"
PENDING = "delivered_at IS NULL"
PLAIN_INDEXES = ("case_id", "channel", "recipient")


def _common_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _set_aside(old_name: str) -> None:
    """Drop the table's indexes (their names are schema-wide) and rename it ``old_name``."""
    for column in PLAIN_INDEXES:
        op.drop_index(f"ix_notification_{column}", table_name="notification")
    op.rename_table("notification", old_name)
    if op.get_bind().dialect.name == "postgresql":  # the primary key's name, too
        op.execute(f"ALTER TABLE {old_name} RENAME CONSTRAINT notification_pkey TO {old_name}_pkey")


def _plain_indexes() -> None:
    for column in PLAIN_INDEXES:
        op.create_index(f"ix_notification_{column}", "notification", [column])


def upgrade() -> None:
    _set_aside("notification_0006")
    op.create_table(
        "notification",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        *_common_columns(),
        sa.PrimaryKeyConstraint("position"),
        sa.UniqueConstraint("key", name="uq_notification_key"),
    )
    op.execute(
        f"INSERT INTO notification ({COPIED}) "
        f"SELECT {COPIED} FROM notification_0006 ORDER BY created_at, key"
    )
    op.drop_table("notification_0006")
    _plain_indexes()
    op.create_index(
        "ix_notification_pending",
        "notification",
        ["channel", "recipient", "position"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_notification_pending", table_name="notification")
    _set_aside("notification_0007")
    op.create_table("notification", *_common_columns(), sa.PrimaryKeyConstraint("key"))
    op.execute(
        f"INSERT INTO notification ({COPIED}) "
        f"SELECT {COPIED} FROM notification_0007 ORDER BY position"
    )
    op.drop_table("notification_0007")
    _plain_indexes()
