"""case_event (kind, at, case_id): the center queue's timeline buckets from the index alone

The queue's head-escalated, extension and no-steward buckets ask "which cases have a
timeline entry of this kind (since a week ago)". With ``ix_case_event_kind`` alone,
PostgreSQL reads the index and then one heap page per entry (~500 pages per bucket with
20,000 open cases, for every count and every list); with ``kind, at, case_id`` in one
index it answers from the index (an index-only scan: the ids are in it, and ``at`` bounds
the week of the extension bucket). See bench/RESULTS.md, workbench section.

Revision ID: 0024_queue_indexes
Revises: 0022
Create Date: 2026-11-30 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024_queue_indexes"
down_revision: str | Sequence[str] | None = "0023_team_rosters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_case_event_kind_at", "case_event", ["kind", "at", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_event_kind_at", table_name="case_event")
