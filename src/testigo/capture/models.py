"""Capture tables: links (tokens), sessions and their chunks.

Tokens and sessions change as a capture goes on (a token is used, a session's byte count grows);
chunks never change: each row is written once, with the ledger entry that records it, and the
migration makes the table append-only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from testigo.db.models import Base

CHUNK_TABLE = "capture_chunks"


class CaptureToken(Base):
    """A capture link: lets one device open one new capture session, and nothing else."""

    __tablename__ = "capture_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[str] = mapped_column(String(40))
    max_sessions: Mapped[int] = mapped_column(Integer, default=1)
    sessions_opened: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[str | None] = mapped_column(String(40))
    revoked_at: Mapped[str | None] = mapped_column(String(40))
    label: Mapped[str | None] = mapped_column(String(300))
    network: Mapped[str | None] = mapped_column(String(300))
    # {"webhooks": [...], "emails": [...]}: who is alerted when a recording starts.
    contacts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    ledger_seq: Mapped[int] = mapped_column(BigInteger)


class CaptureSession(Base):
    """One recording from one device: a hash chain of its chunks."""

    __tablename__ = "capture_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    upload_key_hash: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[int] = mapped_column(ForeignKey("capture_tokens.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="live")
    mime_type: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[str] = mapped_column(String(40))
    device_clock: Mapped[str | None] = mapped_column(String(40))
    device_timezone: Mapped[str | None] = mapped_column(String(64))
    location_consent: Mapped[bool] = mapped_column(default=False)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    location_accuracy_m: Mapped[float | None] = mapped_column(Float)
    bytes_received: Mapped[int] = mapped_column(BigInteger, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    chain_head: Mapped[str] = mapped_column(String(64))
    last_chunk_at: Mapped[str | None] = mapped_column(String(40))
    ended_at: Mapped[str | None] = mapped_column(String(40))
    alert_requested: Mapped[bool] = mapped_column(default=False)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    assembled_item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))
    ledger_seq: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)


class CaptureChunk(Base):
    """One acknowledged chunk; ``chain_hash`` = SHA-256(previous chain || index || chunk hash)."""

    __tablename__ = CHUNK_TABLE

    session_id: Mapped[int] = mapped_column(ForeignKey("capture_sessions.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    offset: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"))
    ledger_seq: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[str] = mapped_column(String(40))


Index("ix_capture_chunks_item", CaptureChunk.item_id)
Index("ix_capture_sessions_status", CaptureSession.status)
