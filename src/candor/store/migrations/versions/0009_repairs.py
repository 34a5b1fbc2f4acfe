"""Credit repair: applications for early removal from a list, and their proof.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repairs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "listing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "approval_record_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.CheckConstraint(
            "state = 'filed' OR state = 'in_review' OR state = 'approved' OR state = 'refused'",
            name=op.f("ck_repairs_state"),
        ),
        sa.ForeignKeyConstraint(
            ["approval_record_id"],
            ["records.id"],
            name=op.f("fk_repairs_approval_record_id_records"),
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name=op.f("fk_repairs_listing_id_listings")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_repairs_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repairs")),
        sa.UniqueConstraint("ref", name=op.f("uq_repairs_ref")),
    )
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repairs_listing_id"), ["listing_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_repairs_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "repair_attachments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "repair_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repair_id"], ["repairs.id"], name=op.f("fk_repair_attachments_repair_id_repairs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_attachments")),
    )
    with op.batch_alter_table("repair_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_repair_attachments_repair_id"), ["repair_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("repair_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repair_attachments_repair_id"))

    op.drop_table("repair_attachments")
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repairs_subject_id"))
        batch_op.drop_index(batch_op.f("ix_repairs_listing_id"))

    op.drop_table("repairs")
