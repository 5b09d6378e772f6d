"""team_roster and case_record.deadline_span_s: steward teams' own duty hours (issue 15)

``team_roster``: the duty roster an operator loaded for one steward team (a grid's
stewards), validated ``WorkingRules`` as JSON; teams without one keep the shipped default.
``case_record.deadline_span_s``: the working-time limit the projected deadline counts, so
the queue and desk lists can say it as the case page does (None: a wall-clock deadline).

Revision ID: 0023_team_rosters
Revises: 0022
Create Date: 2026-11-30 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_team_rosters"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team_roster",
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("loaded_by", sa.String(length=140), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team"),
    )
    with op.batch_alter_table("case_record") as batch:
        batch.add_column(sa.Column("deadline_span_s", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_record") as batch:
        batch.drop_column("deadline_span_s")
    op.drop_table("team_roster")
