"""Rater integrity: hashed rater tokens, opaque assignment keys, entry addresses.

- ``raters.token`` now holds the sha256 of the token (existing tokens are
  hashed here, so old invite links keep working);
- ``raters.entry_address``: an HMAC of the address a PID-entry rater came from
  (for the cap on new participant ids per address), indexed with the study;
- ``assignments.key``: the random token a rater's form names an assignment by
  (existing given-out assignments get one here).

Revision ID: 0002_raters
Revises: 0001
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002_raters"
down_revision = "0001"
branch_labels = None
depends_on = None

_raters = sa.table("raters", sa.column("id", sa.Integer), sa.column("token", sa.String))
_assignments = sa.table(
    "assignments",
    sa.column("id", sa.Integer),
    sa.column("rater_id", sa.Integer),
    sa.column("key", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("raters") as batch:
        batch.add_column(sa.Column("entry_address", sa.String(64), nullable=True))
    op.create_index("ix_raters_entry_address", "raters", ["study_id", "entry_address"])
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("key", sa.String(43), nullable=True))
    op.create_index("ix_assignments_key", "assignments", ["key"], unique=True)
    conn = op.get_bind()
    for rid, token in conn.execute(sa.select(_raters.c.id, _raters.c.token)).all():
        hashed = hashlib.sha256(token.encode()).hexdigest()
        conn.execute(_raters.update().where(_raters.c.id == rid).values(token=hashed))
    given = conn.execute(
        sa.select(_assignments.c.id).where(_assignments.c.rater_id.is_not(None))
    ).all()
    for (aid,) in given:
        conn.execute(
            _assignments.update()
            .where(_assignments.c.id == aid)
            .values(key=secrets.token_urlsafe(16))
        )


def downgrade() -> None:
    """Drops the new columns (plain ``ALTER TABLE ... DROP COLUMN``: on SQLite a batch
    copy of ``raters`` would trip the foreign keys that point at it; SQLite has
    the statement since 3.35). Hashed tokens cannot be turned back into links."""
    op.drop_index("ix_assignments_key", table_name="assignments")
    op.drop_column("assignments", "key")
    op.drop_index("ix_raters_entry_address", table_name="raters")
    op.drop_column("raters", "entry_address")
