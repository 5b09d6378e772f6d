"""steward.updated_at: lets each worker keep its nearest-steward index fresh incrementally

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-25 08:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("steward") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_steward_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("steward") as batch:
        batch.drop_index("ix_steward_updated_at")
        batch.drop_column("updated_at")
