"""Crowd-study checks: a rater's comprehension / attention state, timed-out labels.

Adds the table ``rater_checks`` (comprehension attempts, screened out,
excluded by the attention rule) and the column ``labels.timed_out`` (an
answer after an enforced time limit). Self-contained: touches no table or
column of 0002_raters (it was written on 0001 and chained after 0002_raters).

Revision ID: 0003_checks
Revises: 0002_raters
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_checks"
down_revision = "0002_raters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rater_checks",
        sa.Column("rater_id", sa.Integer, sa.ForeignKey("raters.id"), primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False, index=True),
        sa.Column("comprehension_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("comprehension_passed_at", sa.DateTime, nullable=True),
        sa.Column("screened_out_at", sa.DateTime, nullable=True),
        sa.Column("excluded_at", sa.DateTime, nullable=True),
        sa.Column("excluded_reason", sa.String(200), nullable=False, server_default=""),
    )
    with op.batch_alter_table("labels") as batch:  # SQLite cannot ALTER in place
        batch.add_column(
            sa.Column("timed_out", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("timed_out")
    op.drop_table("rater_checks")
