"""merge the feature branches (bot requests, devices, inspections, steward updated_at)

Each feature added its tables off 0001 in parallel; this revision joins them so that
``alembic upgrade head`` has one head again.

Revision ID: 0006
Revises: 0002, 0003, 0004, 0005
Create Date: 2026-11-25 08:55:00
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0002", "0003", "0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
