"""The ledger: entries (the Merkle tree's leaves), its tiles of subtree hashes, signed heads.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("object_table", sa.String(length=32), nullable=True),
        sa.Column("object_id", sa.BigInteger(), nullable=True),
        sa.Column("subject_id", _ID, nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_ledger_entries_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_entries_object", ["object_table", "object_id"], unique=False
        )
    op.create_table(
        "ledger_tiles",
        sa.Column("tile_level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("tile_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tile_level", "tile_index", name=op.f("pk_ledger_tiles")),
    )
    op.create_table(
        "ledger_heads",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.SmallInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_ledger_heads")),
    )


def downgrade() -> None:
    op.drop_table("ledger_heads")
    op.drop_table("ledger_tiles")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_object")
    op.drop_table("ledger_entries")
