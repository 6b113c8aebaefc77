"""Researcher sessions and study access: ``researchers.session_version`` and ``study_members``.

``session_version`` is copied into the signed session cookie at login and
bumped on logout and password change, so an old cookie stops working.
``study_members`` says which researchers see a study (owner or member); a
study without any row stays visible to every researcher.

Revision ID: 0004_security
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_security"
down_revision = "0003_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("researchers") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer, nullable=False, server_default="0")
        )
    op.create_table(
        "study_members",
        sa.Column(
            "study_id",
            sa.Integer,
            sa.ForeignKey("studies.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "researcher_id",
            sa.Integer,
            sa.ForeignKey("researchers.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        sa.Column("role", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("study_members")
    with op.batch_alter_table("researchers") as batch:
        batch.drop_column("session_version")
