"""Check log: checks.times, how many checks one row stands for.

A bulk check's identifiers that name no subject are logged as one row per (request, answer)
with their count; every other row stands for one check.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default on both engines: no table rebuild, and existing
    # rows (one check each) read 1.
    op.add_column("checks", sa.Column("times", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.drop_column("times")
