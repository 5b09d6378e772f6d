"""merge the groundwork branches (attachments, web accounts and sessions)

0013 and 0014 were written in parallel off 0012; this revision joins them so that
``alembic upgrade head`` has one head again.

Revision ID: 0015
Revises: 0013, 0014
Create Date: 2026-11-30 07:50:00
"""

from collections.abc import Sequence

revision: str = "0015"
down_revision: str | Sequence[str] | None = ("0013", "0014")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
