"""Identifier keys: which keys the stored identifier hashes use, for `candor keys rotate`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identifier_keys",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rekeyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rekeyed", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identifier_keys")),
    )
    # Before rotation existed every hash was under key 1.
    op.execute("INSERT INTO identifier_keys (id, registered_at) VALUES (1, CURRENT_TIMESTAMP)")


def downgrade() -> None:
    op.drop_table("identifier_keys")
