"""Pairwise items: ``items.pair`` and ``labels.swapped``.

``items.pair`` holds a pairwise item's prompt, its two completions in the
canonical order (A, B) and its gold preference; ``labels.swapped`` records
that the rater was shown B first, so position bias can be measured. Both are
NULL for statement items, so studies made before stay as they are.

Revision ID: 0006_pairwise
Revises: 0005_claim_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_pairwise"
down_revision = "0005_claim_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (nullable, no constraint: SQLite does it in place); a batch
    # copy of ``items`` would have to drop a table that assignments and labels
    # reference, which SQLite refuses with foreign keys on
    op.add_column("items", sa.Column("pair", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("labels", sa.Column("swapped", sa.Boolean, nullable=True))


def downgrade() -> None:
    op.drop_column("labels", "swapped")  # SQLite >= 3.35 drops a plain column in place
    op.drop_column("items", "pair")
