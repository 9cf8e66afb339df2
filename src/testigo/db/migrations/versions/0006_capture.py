"""Live capture: capture links, sessions and their chunks (append-only).

Revision ID: 0006
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from testigo.db import append_only

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "capture_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("expires_at", sa.String(length=40), nullable=False),
        sa.Column("max_sessions", sa.Integer(), nullable=False),
        sa.Column("sessions_opened", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.String(length=40), nullable=True),
        sa.Column("revoked_at", sa.String(length=40), nullable=True),
        sa.Column("label", sa.String(length=300), nullable=True),
        sa.Column("network", sa.String(length=300), nullable=True),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_capture_tokens_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_capture_tokens_token_hash")),
    )
    op.create_table(
        "capture_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("upload_key_hash", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.String(length=40), nullable=False),
        sa.Column("device_clock", sa.String(length=40), nullable=True),
        sa.Column("device_timezone", sa.String(length=64), nullable=True),
        sa.Column("location_consent", sa.Boolean(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("location_accuracy_m", sa.Float(), nullable=True),
        sa.Column("bytes_received", sa.BigInteger(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("chain_head", sa.String(length=64), nullable=False),
        sa.Column("last_chunk_at", sa.String(length=40), nullable=True),
        sa.Column("ended_at", sa.String(length=40), nullable=True),
        sa.Column("alert_requested", sa.Boolean(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("assembled_item_id", sa.Integer(), nullable=True),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["capture_tokens.id"],
            name=op.f("fk_capture_sessions_token_id_capture_tokens"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_capture_sessions_incident_id_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["assembled_item_id"],
            ["evidence_items.id"],
            name=op.f("fk_capture_sessions_assembled_item_id_evidence_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_sessions")),
        sa.UniqueConstraint("public_id", name=op.f("uq_capture_sessions_public_id")),
    )
    with op.batch_alter_table("capture_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_capture_sessions_token_id"), ["token_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_capture_sessions_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index("ix_capture_sessions_status", ["status"], unique=False)
    op.create_table(
        "capture_chunks",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["capture_sessions.id"],
            name=op.f("fk_capture_chunks_session_id_capture_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["evidence_items.id"],
            name=op.f("fk_capture_chunks_item_id_evidence_items"),
        ),
        sa.PrimaryKeyConstraint("session_id", "idx", name=op.f("pk_capture_chunks")),
    )
    with op.batch_alter_table("capture_chunks", schema=None) as batch_op:
        batch_op.create_index("ix_capture_chunks_item", ["item_id"], unique=False)
    append_only.install(["capture_chunks"])


def downgrade() -> None:
    append_only.remove(["capture_chunks"])
    op.drop_table("capture_chunks")
    op.drop_table("capture_sessions")
    op.drop_table("capture_tokens")
