"""What investigators see of captures: the same dictionaries feed the pages and the JSON API."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from testigo.capture.models import CaptureChunk, CaptureSession, CaptureToken
from testigo.capture.pacer import stale_seconds
from testigo.capture.service import CLOSE_ENTRY, CLOSED
from testigo.db.models import LedgerEntry, LedgerSubject
from testigo.vault import ledger
from testigo.vault.canonical import parse_json
from testigo.vault.service import Vault

LIST_LIMIT = 200


def clock(ms: int) -> str:
    """Milliseconds as ``MM:SS`` (or ``H:MM:SS``): the "saved up to" time."""
    seconds = max(0, int(ms)) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def effective_status(row: CaptureSession, now: datetime | None = None) -> str:
    """A live session that has been silent longer than the stale period is shown as stopped."""
    if row.status != "live" or row.last_chunk_at is None:
        return row.status
    moment = now or datetime.now(UTC)
    last = datetime.strptime(row.last_chunk_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return "stopped" if (moment - last).total_seconds() > stale_seconds() else "live"


def session_dict(
    row: CaptureSession, token: CaptureToken | None, signed_chunks: int | None = None
) -> dict[str, Any]:
    return {
        "id": row.public_id,
        "status": effective_status(row),
        "stored_status": row.status,
        "mime_type": row.mime_type,
        "started_at": row.started_at,
        "device_clock": row.device_clock,
        "device_timezone": row.device_timezone,
        "location": None
        if not row.location_consent
        else {
            "latitude": row.latitude,
            "longitude": row.longitude,
            "accuracy_m": row.location_accuracy_m,
        },
        "bytes": row.bytes_received,
        "chunks": row.chunk_count,
        "saved_ms": row.duration_ms,
        "saved_up_to": clock(row.duration_ms),
        "chain_head": row.chain_head,
        "last_chunk_at": row.last_chunk_at,
        "ended_at": row.ended_at,
        "incident_id": row.incident_id,
        "item_id": row.assembled_item_id,
        "signed_chunks": signed_chunks,
        "ledger_seq": row.ledger_seq,
        "link": None
        if token is None
        else {"id": token.id, "label": token.label, "network": token.network},
        "recording_url": f"/captures/{row.public_id}/recording",
    }


def signed_chunk_count(session: Session, row: CaptureSession) -> int:
    """Chunks whose ledger entries are covered by the newest signed checkpoint."""
    latest = ledger.latest_checkpoint(session)
    if latest is None:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(CaptureChunk)
            .where(CaptureChunk.session_id == row.id, CaptureChunk.ledger_seq < latest.tree_size)
        )
        or 0
    )


def list_sessions(vault: Vault, visible: Any = None) -> list[dict[str, Any]]:
    """Newest first. ``visible`` is a SQL condition on the incident id (restricted incidents)."""
    with vault.reading() as session:
        query = (
            select(CaptureSession, CaptureToken)
            .join(CaptureToken, CaptureToken.id == CaptureSession.token_id)
            .order_by(CaptureSession.id.desc())
            .limit(LIST_LIMIT)
        )
        if visible is not None:
            query = query.where((CaptureSession.incident_id.is_(None)) | visible)
        return [session_dict(row, token) for row, token in session.execute(query)]


def session_detail(vault: Vault, public_id: str) -> tuple[CaptureSession, dict[str, Any]]:
    from testigo.capture.errors import SessionNotFound

    with vault.reading() as session:
        found = session.execute(
            select(CaptureSession, CaptureToken)
            .join(CaptureToken, CaptureToken.id == CaptureSession.token_id)
            .where(CaptureSession.public_id == public_id)
        ).first()
        if found is None:
            raise SessionNotFound(f"there is no capture session {public_id[:40]}")
        row, token = found
        detail = session_dict(row, token, signed_chunk_count(session, row))
        detail["closed"] = closing_entry(session, public_id) if row.status in CLOSED else None
        return row, detail


def closing_entry(session: Session, public_id: str) -> dict[str, Any] | None:
    """How the capture ended, from its ledger entry: who or what closed it, when, and why.

    One indexed query (the page of a live capture is polled every 2 s and has one ledger entry
    per chunk, so the capture's whole history is never read).
    """
    entry = session.scalars(
        select(LedgerEntry)
        .join(LedgerSubject, LedgerSubject.seq == LedgerEntry.seq)
        .where(
            LedgerSubject.subject == f"capture:{public_id}",
            LedgerEntry.entry_type.in_(CLOSE_ENTRY.values()),
        )
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
    ).first()
    if entry is None:
        return None
    params = parse_json(entry.body).get("params", {})
    return {
        "type": entry.entry_type,
        "actor": entry.actor,
        "time": entry.created_at,
        "reason": params.get("reason"),
        "ledger_seq": entry.seq,
    }


def qr_svg(link: str) -> str:
    """An SVG QR code of a capture link, made here (nothing is sent anywhere)."""
    import segno

    code = segno.make(link, error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True)
    return buffer.getvalue().decode("utf-8")


def qr_data_uri(link: str) -> str:
    import segno

    uri: str = segno.make(link, error="m").svg_data_uri(scale=5, border=2)
    return uri
