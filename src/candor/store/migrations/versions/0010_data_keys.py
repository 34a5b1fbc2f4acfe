"""Personal data sealed under per-subject data keys: records.sealed and records.erased_on, the
subjects' wrapped data keys, and officers' erasures.

Records stored before this keep their name in ``records.name`` until retention erases it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable columns without a default: a plain ADD COLUMN on both engines, no table rebuild.
    op.add_column("records", sa.Column("sealed", sa.LargeBinary(), nullable=True))
    op.add_column("records", sa.Column("erased_on", sa.Date(), nullable=True))
    op.create_table(
        "subject_keys",
        sa.Column("subject_id", _ID, autoincrement=False, nullable=False),
        sa.Column("kek_id", sa.SmallInteger(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_subject_keys_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_subject_keys")),
    )
    op.create_table(
        "erasures",
        sa.Column("id", _ID, nullable=False),
        sa.Column("subject_id", _ID, nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_erasures_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasures_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:
    # Dropping the sealed data would lose every name since this revision, silently.
    sealed = op.get_bind().execute(
        sa.text("SELECT 1 FROM records WHERE sealed IS NOT NULL LIMIT 1")
    )
    if sealed.first() is not None:
        raise RuntimeError(
            "records hold sealed personal data: downgrading below 0010 would lose it; restore a "
            "backup from before the upgrade instead"
        )
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasures_subject_id"))
    op.drop_table("erasures")
    op.drop_table("subject_keys")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("erased_on")
        batch_op.drop_column("sealed")
