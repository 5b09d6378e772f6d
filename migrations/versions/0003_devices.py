"""devices, detections, intake merge registry, Open311 requests

Hand-written (plain ``sa`` types, only new tables, no batch mode needed), so it runs the
same on SQLite and PostgreSQL. Branches from 0001 next to 0002; ``services.platform.migrate``
upgrades to "heads" until the heads are merged.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "device",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("sensor_type", sa.String(length=40), nullable=True),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_device_kind", "device", ["kind"])
    op.create_index("ix_device_grid_id", "device", ["grid_id"])

    op.create_table(
        "detection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detection_type", sa.String(length=40), nullable=False),
        sa.Column("case_type", sa.String(length=40), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("snapshot_url", sa.String(length=2048), nullable=True),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_id", "event_id", name="uq_detection_event"),
    )
    op.create_index("ix_detection_device_id", "detection", ["device_id"])
    op.create_index("ix_detection_occurred_at", "detection", ["occurred_at"])
    op.create_index("ix_detection_outcome", "detection", ["outcome"])
    op.create_index("ix_detection_case_id", "detection", ["case_id"])

    op.create_table(
        "intake_merge",
        sa.Column("merge_key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("opener", sa.String(length=128), nullable=False),
        sa.Column("last_at", TS, nullable=False),
        sa.Column("recovered_at", TS, nullable=True),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("merge_key"),
    )

    op.create_table(
        "open311_request",
        sa.Column("service_request_id", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("service_code", sa.String(length=40), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("address_string", sa.String(length=300), nullable=True),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("media_url", sa.String(length=2048), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("service_request_id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_open311_request_client_id", "open311_request", ["client_id"])
    op.create_index("ix_open311_request_service_code", "open311_request", ["service_code"])
    op.create_index("ix_open311_request_requested_at", "open311_request", ["requested_at"])


def downgrade() -> None:
    op.drop_index("ix_open311_request_requested_at", table_name="open311_request")
    op.drop_index("ix_open311_request_service_code", table_name="open311_request")
    op.drop_index("ix_open311_request_client_id", table_name="open311_request")
    op.drop_table("open311_request")
    op.drop_table("intake_merge")
    op.drop_index("ix_detection_case_id", table_name="detection")
    op.drop_index("ix_detection_outcome", table_name="detection")
    op.drop_index("ix_detection_occurred_at", table_name="detection")
    op.drop_index("ix_detection_device_id", table_name="detection")
    op.drop_table("detection")
    op.drop_index("ix_device_grid_id", table_name="device")
    op.drop_index("ix_device_kind", table_name="device")
    op.drop_table("device")
