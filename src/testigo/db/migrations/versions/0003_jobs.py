"""jobs and annotations: the analysis queue and its append-only results

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-29 12:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from testigo.db import append_only

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("annotations",)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.String(length=40), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.String(length=40), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.String(length=40), nullable=True),
        sa.Column("finished_at", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["evidence_items.id"], name=op.f("fk_jobs_item_id_evidence_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_claim", ["status", "run_after"], unique=False)
        batch_op.create_index("ix_jobs_item_step", ["item_id", "step"], unique=False)

    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("start_seconds", sa.Float(), nullable=True),
        sa.Column("end_seconds", sa.Float(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("supersedes", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["evidence_items.id"],
            name=op.f("fk_annotations_item_id_evidence_items"),
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_annotations_job_id_jobs")),
        sa.ForeignKeyConstraint(
            ["supersedes"], ["annotations.id"], name=op.f("fk_annotations_supersedes_annotations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
    )
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.create_index("ix_annotations_item_kind", ["item_id", "kind"], unique=False)
        batch_op.create_index("ix_annotations_ledger_seq", ["ledger_seq"], unique=False)
        batch_op.create_index("ix_annotations_supersedes", ["supersedes"], unique=False)

    append_only.install(APPEND_ONLY)


def downgrade() -> None:
    append_only.remove(APPEND_ONLY)
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.drop_index("ix_annotations_supersedes")
        batch_op.drop_index("ix_annotations_ledger_seq")
        batch_op.drop_index("ix_annotations_item_kind")
    op.drop_table("annotations")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_item_step")
        batch_op.drop_index("ix_jobs_claim")
    op.drop_table("jobs")
