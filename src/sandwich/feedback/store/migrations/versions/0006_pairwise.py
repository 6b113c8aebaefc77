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
    with op.batch_alter_table("items") as batch:  # SQLite cannot ALTER in place
        batch.add_column(sa.Column("pair", sa.JSON, nullable=True))
    with op.batch_alter_table("labels") as batch:
        batch.add_column(sa.Column("swapped", sa.Boolean, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("swapped")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("pair")
