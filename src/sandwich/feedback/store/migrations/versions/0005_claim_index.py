"""Indexes for the rater path: ``ix_assignments_claim`` and ``ix_items_role``.

A rater's next main item is the free slot with the lowest slot number (then
the lowest item id) of a condition (:func:`sandwich.feedback.store.assign._claim_main`).
Without this index every claim scanned and sorted all of the study's
assignments (about 6 ms per claim for 2,000 items on SQLite, the largest
part of a label's database time under load); with it the database walks
the slots of one condition in claim order, reading the index only.
``ix_items_role`` serves the per-role item lists (the gold pool, the next
training item or attention check) read on every page.

Revision ID: 0005_claim_index
Revises: 0004_security
"""

from __future__ import annotations

from alembic import op

revision = "0005_claim_index"
down_revision = "0004_security"
branch_labels = None
depends_on = None

COLUMNS = [
    "study_id",
    "role",
    "condition",
    "slot",
    "item_id",
    "rater_id",
    "answered_at",
    "assigned_at",
]


def upgrade() -> None:
    op.create_index("ix_assignments_claim", "assignments", COLUMNS)
    op.create_index("ix_items_role", "items", ["study_id", "role", "position"])


def downgrade() -> None:
    op.drop_index("ix_items_role", table_name="items")
    op.drop_index("ix_assignments_claim", table_name="assignments")
