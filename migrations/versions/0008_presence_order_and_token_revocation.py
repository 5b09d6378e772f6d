"""steward.duty_changed_at (presence in order) and token_revocation (revoke API tokens)

``duty_changed_at`` is compared in the conditional UPDATE that applies a check-in/out, so
an older duty event (late or replayed) never undoes a newer one, on every API replica.
``token_revocation`` holds revoked token ids and subjects' "not before" times.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("steward") as batch:
        batch.add_column(sa.Column("duty_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "token_revocation",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=190), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(length=140), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_token_revocation_expires_at", "token_revocation", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_token_revocation_expires_at", table_name="token_revocation")
    op.drop_table("token_revocation")
    with op.batch_alter_table("steward") as batch:
        batch.drop_column("duty_changed_at")
