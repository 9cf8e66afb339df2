"""RFC 3161 timestamp tokens on checkpoints.

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from testigo.db import append_only

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_timestamps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("tsa_url", sa.String(length=1000), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("gen_time", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name=op.f("fk_checkpoint_timestamps_checkpoint_id_checkpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoint_timestamps")),
    )
    with op.batch_alter_table("checkpoint_timestamps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkpoint_timestamps_checkpoint_id"), ["checkpoint_id"], unique=False
        )
    append_only.install(["checkpoint_timestamps"])


def downgrade() -> None:
    append_only.remove(["checkpoint_timestamps"])
    with op.batch_alter_table("checkpoint_timestamps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkpoint_timestamps_checkpoint_id"))
    op.drop_table("checkpoint_timestamps")
