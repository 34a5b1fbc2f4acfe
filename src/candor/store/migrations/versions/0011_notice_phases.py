"""Listing phases told to subjects, and addresses for notices.

``listings.phase``: the phase (announced, in_force, ended) its subject was last told of; a rating
that finds another tells them (NULL: never told, so listings that predate this revision are told
by the next rating). ``notice_addresses``: where a subject or a relying party wants its notices
sent by email or webhook.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 18:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.add_column(sa.Column("phase", sa.String(length=16), nullable=True))
    op.create_table(
        "notice_addresses",
        sa.Column("id", Id, nullable=False),
        sa.Column("subject_id", Id, nullable=True),
        sa.Column("client_id", Id, nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "(subject_id IS NULL) <> (client_id IS NULL)",
            name=op.f("ck_notice_addresses_recipient"),
        ),
        sa.CheckConstraint(
            "channel = 'email' OR channel = 'webhook'", name=op.f("ck_notice_addresses_channel")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_notice_addresses_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_notice_addresses_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_addresses")),
        sa.UniqueConstraint(
            "subject_id",
            "client_id",
            "channel",
            "address",
            name=op.f("uq_notice_addresses_subject_id_client_id_channel_address"),
        ),
    )
    op.create_index(
        op.f("ix_notice_addresses_client_id"), "notice_addresses", ["client_id"], unique=False
    )
    op.create_index(
        op.f("ix_notice_addresses_subject_id"), "notice_addresses", ["subject_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notice_addresses_subject_id"), table_name="notice_addresses")
    op.drop_index(op.f("ix_notice_addresses_client_id"), table_name="notice_addresses")
    op.drop_table("notice_addresses")
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("phase")
