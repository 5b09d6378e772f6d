"""satisfaction: the reporter's rating of a closed case (回访, issue 16)

Revision ID: 0019
Revises: 0015
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "satisfaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("closed_seq", sa.Integer(), nullable=False),
        sa.Column("reporter", sa.String(length=140), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "closed_seq", name="uq_satisfaction_closing"),
    )
    op.create_index("ix_satisfaction_case_id", "satisfaction", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_satisfaction_case_id", table_name="satisfaction")
    op.drop_table("satisfaction")
