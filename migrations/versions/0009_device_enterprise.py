"""device.enterprise_id: the enterprise a device watches, the only one it may report on

A device token could post observations for any enterprise, and they became findings at
the next inspection. A device is now bound to one enterprise (NULL: a town camera or
sensor, bound to its grid only, which reports cases but no enterprise's operations).

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-30 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device") as batch:
        batch.add_column(sa.Column("enterprise_id", sa.String(length=24), nullable=True))
        batch.create_index("ix_device_enterprise_id", ["enterprise_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("device") as batch:
        batch.drop_index("ix_device_enterprise_id")
        batch.drop_column("enterprise_id")
