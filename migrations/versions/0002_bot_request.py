"""bot_request: chat-bot callbacks already answered (replay protection)

Hand-written (plain ``sa`` types, no batch mode needed: it only adds a table), so it runs
the same on SQLite and PostgreSQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bot_request",
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("steward_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_bot_request_steward_id", "bot_request", ["steward_id"])
    op.create_index("ix_bot_request_case_id", "bot_request", ["case_id"])
    op.create_index("ix_bot_request_received_at", "bot_request", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_bot_request_received_at", table_name="bot_request")
    op.drop_index("ix_bot_request_case_id", table_name="bot_request")
    op.drop_index("ix_bot_request_steward_id", table_name="bot_request")
    op.drop_table("bot_request")
