"""merge this round's branches (national calendar, satisfaction, device intake)

0018, 0019 and 0021 were written in parallel off 0015; this revision joins them so that
``alembic upgrade head`` has one head again.

Revision ID: 0022
Revises: 0018, 0019, 0021
Create Date: 2026-11-30 10:40:00
"""

from collections.abc import Sequence

revision: str = "0022"
down_revision: str | Sequence[str] | None = ("0018", "0019", "0021")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
