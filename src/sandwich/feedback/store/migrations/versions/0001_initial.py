"""Initial schema: studies, items, raters, assignments, labels, researchers, settings.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("completion_code", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False, index=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("gold", sa.Boolean, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("assistance", sa.JSON, nullable=False),
        sa.UniqueConstraint("study_id", "key", name="uq_items_study_key"),
    )
    op.create_table(
        "raters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False, index=True),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("condition", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("study_id", "external_id", name="uq_raters_external"),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False, index=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False, index=True),
        sa.Column("condition", sa.String(40), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("slot", sa.Integer, nullable=True),
        sa.Column("rater_id", sa.Integer, sa.ForeignKey("raters.id"), nullable=True, index=True),
        sa.Column("position", sa.Integer, nullable=True),
        sa.Column("assigned_at", sa.DateTime, nullable=True),
        sa.Column("answered_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("item_id", "condition", "slot", name="uq_assignments_slot"),
        sa.UniqueConstraint("rater_id", "item_id", name="uq_assignments_rater_item"),
    )
    op.create_index("ix_assignments_free", "assignments", ["study_id", "role", "rater_id", "slot"])
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False, index=True),
        sa.Column("rater_id", sa.Integer, sa.ForeignKey("raters.id"), nullable=False, index=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False, index=True),
        sa.Column(
            "assignment_id",
            sa.Integer,
            sa.ForeignKey("assignments.id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("condition", sa.String(40), nullable=False),
        sa.Column("answer", sa.Boolean, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("is_gold", sa.Boolean, nullable=False),
        sa.Column("is_training", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("rater_id", "item_id", name="uq_labels_rater_item"),
    )
    op.create_table(
        "researchers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("settings", "researchers", "labels", "assignments", "raters", "items", "studies"):
        op.drop_table(table)
