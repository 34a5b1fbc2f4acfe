"""Who activated each rulebook version.

``rulebooks.activated_by``: the accountable person or process (``cli:<user>`` at the command
line). Versions activated before this revision have none (NULL), and their ledger entries hold
the digest of the form without it (``domain.ledger.ADDED_COLUMNS``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rulebooks") as batch:
        batch.add_column(sa.Column("activated_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rulebooks") as batch:
        batch.drop_column("activated_by")
