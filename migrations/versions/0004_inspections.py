"""joint safety inspection: enterprises, inspectors, bookings, inspection projection, records

Hand-written (plain ``sa`` types, only new tables), so it runs the same on SQLite and
PostgreSQL. Branches off 0001 like the other feature migrations; ``upgrade`` goes to
"heads".

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enterprise",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("industry", sa.String(length=40), nullable=False),
        sa.Column("risk_level", sa.String(length=8), nullable=False),
        sa.Column("hazardous_chemicals", sa.Boolean(), nullable=False),
        sa.Column("contact_name", sa.String(length=60), nullable=False),
        sa.Column("contact_phone", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_enterprise_grid_id", "enterprise", ["grid_id"])
    op.create_index("ix_enterprise_hazardous_chemicals", "enterprise", ["hazardous_chemicals"])
    op.create_index("ix_enterprise_industry", "enterprise", ["industry"])
    op.create_index("ix_enterprise_risk_level", "enterprise", ["risk_level"])
    op.create_table(
        "inspector",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=False),
        sa.Column("qualifications", sa.JSON(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("booked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("booking_version", sa.Integer(), nullable=False),
        sa.Column("active_inspections", sa.Integer(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inspector_grid_id", "inspector", ["grid_id"])
    op.create_index("ix_inspector_on_duty", "inspector", ["on_duty"])
    op.create_table(
        "inspection_booking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("inspector_id", sa.String(length=64), nullable=False),
        sa.Column("visit_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visit_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inspection_id", "attempt", name="uq_inspection_booking"),
    )
    op.create_index("ix_inspection_booking_inspection_id", "inspection_booking", ["inspection_id"])
    op.create_index("ix_inspection_booking_inspector_id", "inspection_booking", ["inspector_id"])
    op.create_table(
        "inspection_record",
        sa.Column("inspection_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=24), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=False),
        sa.Column("risk_level", sa.String(length=8), nullable=True),
        sa.Column("campaign_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("inspector_id", sa.String(length=64), nullable=True),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("items_total", sa.Integer(), nullable=False),
        sa.Column("items_answered", sa.Integer(), nullable=False),
        sa.Column("hazards", sa.Integer(), nullable=False),
        sa.Column("critical", sa.Integer(), nullable=False),
        sa.Column("hazards_closed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visit_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visit_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visit_minutes", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("waiting_for", sa.String(length=200), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("inspection_id"),
    )
    op.create_index("ix_inspection_record_campaign_id", "inspection_record", ["campaign_id"])
    op.create_index("ix_inspection_record_created_at", "inspection_record", ["created_at"])
    op.create_index("ix_inspection_record_enterprise_id", "inspection_record", ["enterprise_id"])
    op.create_index("ix_inspection_record_grid_id", "inspection_record", ["grid_id"])
    op.create_index("ix_inspection_record_inspector_id", "inspection_record", ["inspector_id"])
    op.create_index("ix_inspection_record_overdue", "inspection_record", ["overdue"])
    op.create_index("ix_inspection_record_status", "inspection_record", ["status"])
    op.create_index("ix_inspection_record_visit_at", "inspection_record", ["visit_at"])
    op.create_index(
        "ix_inspection_record_visit_finished_at", "inspection_record", ["visit_finished_at"]
    )
    op.create_table(
        "inspection_finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=24), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("item_code", sa.String(length=82), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("answer", sa.String(length=40), nullable=True),
        sa.Column("severity", sa.String(length=8), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("inspector_id", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rectification_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inspection_id", "item_code", name="uq_inspection_finding_item"),
    )
    op.create_index("ix_inspection_finding_department", "inspection_finding", ["department"])
    op.create_index("ix_inspection_finding_enterprise_id", "inspection_finding", ["enterprise_id"])
    op.create_index("ix_inspection_finding_grid_id", "inspection_finding", ["grid_id"])
    op.create_index("ix_inspection_finding_inspection_id", "inspection_finding", ["inspection_id"])
    op.create_table(
        "hazard_record",
        sa.Column("rectification_id", sa.String(length=64), nullable=False),
        sa.Column("inspection_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=24), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("item_code", sa.String(length=82), nullable=False),
        sa.Column("answer", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("proof_count", sa.Integer(), nullable=False),
        sa.Column("waiting_for", sa.String(length=200), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hours_to_close", sa.Float(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("rectification_id"),
    )
    op.create_index("ix_hazard_record_department", "hazard_record", ["department"])
    op.create_index("ix_hazard_record_enterprise_id", "hazard_record", ["enterprise_id"])
    op.create_index("ix_hazard_record_escalated", "hazard_record", ["escalated"])
    op.create_index("ix_hazard_record_found_at", "hazard_record", ["found_at"])
    op.create_index("ix_hazard_record_grid_id", "hazard_record", ["grid_id"])
    op.create_index("ix_hazard_record_inspection_id", "hazard_record", ["inspection_id"])
    op.create_index("ix_hazard_record_overdue", "hazard_record", ["overdue"])
    op.create_index("ix_hazard_record_severity", "hazard_record", ["severity"])
    op.create_index("ix_hazard_record_status", "hazard_record", ["status"])
    op.create_table(
        "enterprise_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.String(length=24), nullable=False),
        sa.Column("client_key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("permit_no", sa.String(length=64), nullable=True),
        sa.Column("chemical", sa.String(length=100), nullable=True),
        sa.Column("quantity_kg", sa.Float(), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("operator", sa.String(length=60), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enterprise_id", "client_key", name="uq_enterprise_record_key"),
    )
    op.create_index("ix_enterprise_record_enterprise_id", "enterprise_record", ["enterprise_id"])
    op.create_index("ix_enterprise_record_kind", "enterprise_record", ["kind"])
    op.create_index("ix_enterprise_record_started_at", "enterprise_record", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_enterprise_record_enterprise_id", table_name="enterprise_record")
    op.drop_index("ix_enterprise_record_kind", table_name="enterprise_record")
    op.drop_index("ix_enterprise_record_started_at", table_name="enterprise_record")
    op.drop_table("enterprise_record")
    op.drop_index("ix_hazard_record_department", table_name="hazard_record")
    op.drop_index("ix_hazard_record_enterprise_id", table_name="hazard_record")
    op.drop_index("ix_hazard_record_escalated", table_name="hazard_record")
    op.drop_index("ix_hazard_record_found_at", table_name="hazard_record")
    op.drop_index("ix_hazard_record_grid_id", table_name="hazard_record")
    op.drop_index("ix_hazard_record_inspection_id", table_name="hazard_record")
    op.drop_index("ix_hazard_record_overdue", table_name="hazard_record")
    op.drop_index("ix_hazard_record_severity", table_name="hazard_record")
    op.drop_index("ix_hazard_record_status", table_name="hazard_record")
    op.drop_table("hazard_record")
    op.drop_index("ix_inspection_finding_department", table_name="inspection_finding")
    op.drop_index("ix_inspection_finding_enterprise_id", table_name="inspection_finding")
    op.drop_index("ix_inspection_finding_grid_id", table_name="inspection_finding")
    op.drop_index("ix_inspection_finding_inspection_id", table_name="inspection_finding")
    op.drop_table("inspection_finding")
    op.drop_index("ix_inspection_record_campaign_id", table_name="inspection_record")
    op.drop_index("ix_inspection_record_created_at", table_name="inspection_record")
    op.drop_index("ix_inspection_record_enterprise_id", table_name="inspection_record")
    op.drop_index("ix_inspection_record_grid_id", table_name="inspection_record")
    op.drop_index("ix_inspection_record_inspector_id", table_name="inspection_record")
    op.drop_index("ix_inspection_record_overdue", table_name="inspection_record")
    op.drop_index("ix_inspection_record_status", table_name="inspection_record")
    op.drop_index("ix_inspection_record_visit_at", table_name="inspection_record")
    op.drop_index("ix_inspection_record_visit_finished_at", table_name="inspection_record")
    op.drop_table("inspection_record")
    op.drop_index("ix_inspection_booking_inspection_id", table_name="inspection_booking")
    op.drop_index("ix_inspection_booking_inspector_id", table_name="inspection_booking")
    op.drop_table("inspection_booking")
    op.drop_index("ix_inspector_grid_id", table_name="inspector")
    op.drop_index("ix_inspector_on_duty", table_name="inspector")
    op.drop_table("inspector")
    op.drop_index("ix_enterprise_grid_id", table_name="enterprise")
    op.drop_index("ix_enterprise_hazardous_chemicals", table_name="enterprise")
    op.drop_index("ix_enterprise_industry", table_name="enterprise")
    op.drop_index("ix_enterprise_risk_level", table_name="enterprise")
    op.drop_table("enterprise")
