"""merge the hardening branches (presence order and token revocation, device binding)

0008 and 0009 were written in parallel off 0007; this revision joins them so that
``alembic upgrade head`` has one head again.

Revision ID: 0012
Revises: 0008, 0009
Create Date: 2026-11-30 07:05:00
"""

from collections.abc import Sequence

revision: str = "0012"
down_revision: str | Sequence[str] | None = ("0008", "0009")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
