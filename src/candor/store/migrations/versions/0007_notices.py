"""Notices to subjects and relying parties, and their deliveries by email and webhook.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", _ID, nullable=False),
        sa.Column("subject_id", _ID, nullable=True),
        sa.Column("client_id", _ID, nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(subject_id IS NULL) <> (client_id IS NULL)", name=op.f("ck_notices_recipient")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_notices_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_notices_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "notice_deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("notice_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "channel = 'email' OR channel = 'webhook'", name=op.f("ck_notice_deliveries_channel")
        ),
        sa.CheckConstraint(
            "status = 'pending' OR status = 'delivered' OR status = 'failed'",
            name=op.f("ck_notice_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_deliveries_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_deliveries")),
    )
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notice_deliveries_notice_id"), ["notice_id"], unique=False
        )
        batch_op.create_index(
            "ix_notice_deliveries_due", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_deliveries_due")
        batch_op.drop_index(batch_op.f("ix_notice_deliveries_notice_id"))
    op.drop_table("notice_deliveries")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_subject_id"))
        batch_op.drop_index(batch_op.f("ix_notices_client_id"))
    op.drop_table("notices")
