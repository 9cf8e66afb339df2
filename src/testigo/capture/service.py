"""Capture links, sessions and the chunk path.

A chunk is acknowledged only after its bytes are in the blob store (fsynced), its evidence item,
chunk row and ``capture.chunk`` ledger entry are committed in one transaction, and the database
is flushed to stable storage. A refused chunk changes nothing: the checks run again inside the
transaction, under the session's lock, so two racing copies of one chunk are stored once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from testigo.capture import chain
from testigo.capture.errors import (
    BadChunkRequest,
    ChecksumMismatch,
    ChunkConflict,
    ChunkTooLarge,
    OffsetMismatch,
    SessionClosed,
    SessionNotFound,
    StoreFull,
    StoreUnavailable,
    TokenRefused,
    TokenUsed,
    UploadKeyRefused,
)
from testigo.capture.models import CaptureChunk, CaptureSession, CaptureToken

if TYPE_CHECKING:
    from testigo.capture.committer import ChunkWrite
from testigo.errors import (
    InsufficientSpaceError,
    NotFoundError,
    RefusedInputError,
    StorageError,
)
from testigo.vault import ledger
from testigo.vault.ingest import ensure_incident
from testigo.vault.service import Vault

log = logging.getLogger("testigo.capture")

CHUNK_MEDIA_TYPE = "application/vnd.testigo.capture-chunk"
DEFAULT_MAX_CHUNK_BYTES = 8 * 1024 * 1024
MAX_CHUNK_DURATION_MS = 60_000
MAX_USES = 1000
# finished: the device ended it; abandoned: an investigator closed it; interrupted: the server
# closed it after a long silence (the device was lost). The last two hold a partial recording.
CLOSED = ("finished", "abandoned", "interrupted")
# The ledger entry that closes a capture with each of those statuses.
CLOSE_ENTRY = {
    "finished": "capture.finish",
    "abandoned": "capture.abandon",
    "interrupted": "capture.interrupt",
}
OPEN = ("live", "stopped")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MIME = re.compile(r"^(video|audio)/[A-Za-z0-9.+-]{1,40}(;[ A-Za-z0-9=.,\"+-]{0,80})?$")

_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def max_chunk_bytes() -> int:
    raw = os.environ.get("TESTIGO_CAPTURE_MAX_CHUNK_BYTES", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_CHUNK_BYTES


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _write_lock(vault: Vault) -> threading.Lock | None:
    """One writer at a time inside this process on SQLite: waiting on a Python lock is FIFO and
    immediate, where SQLite's busy handler sleeps in growing steps and adds tens of ms."""
    if vault.engine.dialect.name != "sqlite":
        return None
    key = str(vault.engine.url)
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.Lock()
        return lock


# ---------------------------------------------------------------------------------------------
# Capture links


@dataclass(frozen=True)
class NewToken:
    id: int
    token: str
    expires_at: str


def create_token(
    vault: Vault,
    *,
    actor: str,
    label: str | None = None,
    network: str | None = None,
    hours: float = 24.0,
    webhooks: list[str] | None = None,
    emails: list[str] | None = None,
    incident_id: int | None = None,
    uses: int = 1,
) -> NewToken:
    """A capture link that opens up to ``uses`` sessions (one by default), from any device
    holding it, and nothing else. Only its SHA-256 is kept: the token is shown once."""
    if not 0 < hours <= 24 * 30:
        raise RefusedInputError("a capture link lasts between a few minutes and 30 days")
    if not 1 <= uses <= MAX_USES:
        raise RefusedInputError(f"a capture link opens between 1 and {MAX_USES} recordings")
    hooks = [h.strip() for h in webhooks or [] if h.strip()]
    for hook in hooks:
        if not hook.startswith(("http://", "https://")) or len(hook) > 1000:
            raise RefusedInputError(f"a webhook must be an http(s) URL: {hook[:80]}")
    mails = [m.strip() for m in emails or [] if m.strip()]
    for mail in mails:
        if "@" not in mail or len(mail) > 300 or any(c.isspace() for c in mail):
            raise RefusedInputError(f"not an email address: {mail[:80]}")
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = (now + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with vault.transaction() as session:
        if incident_id is not None:
            ensure_incident(session, incident_id)
        row = CaptureToken(
            token_hash=_digest(token),
            created_by=actor,
            created_at=ledger.utc_now(),
            expires_at=expires,
            max_sessions=uses,
            sessions_opened=0,
            label=(label or "").strip()[:300] or None,
            network=(network or "").strip()[:300] or None,
            contacts={"webhooks": hooks, "emails": mails},
            incident_id=incident_id,
            ledger_seq=-1,
        )
        session.add(row)
        session.flush()
        subjects = [f"capture-token:{row.id}"]
        if incident_id is not None:
            subjects.append(f"incident:{incident_id}")
        entry = ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="capture.token",
                actor=actor,
                subjects=subjects,
                params={
                    "token": row.id,
                    "label": row.label,
                    "network": row.network,
                    "expires_at": expires,
                    "max_sessions": uses,
                    "incident": incident_id,
                    "contacts": {"webhooks": len(hooks), "emails": len(mails)},
                },
            ),
        )
        row.ledger_seq = entry.seq
        return NewToken(id=row.id, token=token, expires_at=expires)


def public_url() -> str | None:
    """``TESTIGO_PUBLIC_URL``: the address phones reach the server at (links, alerts)."""
    return os.environ.get("TESTIGO_PUBLIC_URL", "").strip().rstrip("/") or None


def capture_link(base: str, token: str) -> str:
    """The witness's page for a capture link's token."""
    return f"{base.rstrip('/')}/capture/{token}"


def token_state(row: CaptureToken, now: str | None = None) -> str:
    """``revoked``, ``expired``, ``used`` (every session opened) or ``active``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= (now or ledger.utc_now()):
        return "expired"
    if row.sessions_opened >= row.max_sessions:
        return "used"
    return "active"


def token_dict(row: CaptureToken, now: str | None = None) -> dict[str, Any]:
    contacts = row.contacts or {}
    return {
        "id": row.id,
        "label": row.label,
        "network": row.network,
        "state": token_state(row, now),
        "created_by": row.created_by,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "uses": row.max_sessions,
        "used": row.sessions_opened,
        "used_at": row.used_at,
        "revoked_at": row.revoked_at,
        "incident_id": row.incident_id,
        "contacts": {
            "webhooks": len(contacts.get("webhooks") or []),
            "emails": len(contacts.get("emails") or []),
        },
        "ledger_seq": row.ledger_seq,
    }


def list_tokens(vault: Vault, *, limit: int = 500) -> list[dict[str, Any]]:
    """Capture links, newest first (never the tokens themselves: only their hashes are kept)."""
    now = ledger.utc_now()
    with vault.reading() as session:
        rows = session.scalars(select(CaptureToken).order_by(CaptureToken.id.desc()).limit(limit))
        return [token_dict(row, now) for row in rows]


def revoke_token(vault: Vault, token_id: int, *, actor: str) -> dict[str, Any]:
    """Stop a capture link from opening any more sessions; sessions it opened go on. Ledgered."""
    with vault.transaction() as session:
        row = session.scalar(
            select(CaptureToken).where(CaptureToken.id == token_id).with_for_update()
        )
        if row is None:
            raise NotFoundError(f"there is no capture link {token_id}")
        if row.revoked_at is not None:
            raise RefusedInputError(
                f"capture link {token_id} was already revoked at {row.revoked_at}"
            )
        row.revoked_at = ledger.utc_now()
        ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="capture.revoke",
                actor=actor,
                subjects=[f"capture-token:{row.id}"],
                params={"token": row.id, "sessions_opened": row.sessions_opened},
            ),
        )
        return token_dict(row)


def check_token(vault: Vault, token: str) -> CaptureToken:
    """The token's row if it may still open a session (used to render the capture page)."""
    with vault.reading() as session:
        row = session.scalar(select(CaptureToken).where(CaptureToken.token_hash == _digest(token)))
        _usable(row)
        assert row is not None
        return row


def _usable(row: CaptureToken | None) -> None:
    if row is None:
        raise TokenRefused("this capture link is not valid: ask your network for a new one")
    state = token_state(row)
    if state == "revoked":
        raise TokenRefused("this capture link was revoked: ask your network for a new one")
    if state == "expired":
        raise TokenRefused("this capture link has expired: ask your network for a new one")
    if state == "used":
        raise TokenUsed("this capture link was already used to start a recording")


# ---------------------------------------------------------------------------------------------
# Sessions


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class OpenedSession:
    public_id: str
    upload_key: str
    alert: bool
    contacts: dict[str, Any]
    started_at: str


def new_public_id() -> str:
    """A capture's id: 96 random bits, URL-safe, never starting with "-" (people type it after
    `testigo capture show`, where a leading dash would read as an option)."""
    while True:
        candidate = secrets.token_urlsafe(12)
        if not candidate.startswith("-"):
            return candidate


def open_session(
    vault: Vault,
    token: str,
    *,
    mime_type: str,
    device_clock: str | None = None,
    device_timezone: str | None = None,
    location: Location | None = None,
    alert: bool = False,
) -> OpenedSession:
    """Spend the capture link on one new session; returns the key that uploads to it."""
    mime = mime_type.strip()
    if not _MIME.match(mime):
        raise BadChunkRequest(f"not a video or audio type the vault accepts: {mime[:60]!r}")
    if device_clock is not None and len(device_clock) > 40:
        raise BadChunkRequest("device_clock must be an RFC 3339 time")
    if location is not None and not (
        -90 <= location.latitude <= 90 and -180 <= location.longitude <= 180
    ):
        raise BadChunkRequest("the location is not a valid latitude and longitude")
    public_id = new_public_id()
    upload_key = secrets.token_urlsafe(32)
    with vault.transaction(durable=True) as session:
        row = session.scalar(
            select(CaptureToken).where(CaptureToken.token_hash == _digest(token)).with_for_update()
        )
        _usable(row)
        assert row is not None
        now = ledger.utc_now()
        row.sessions_opened += 1
        row.used_at = now
        capture = CaptureSession(
            public_id=public_id,
            upload_key_hash=_digest(upload_key),
            token_id=row.id,
            status="live",
            mime_type=mime,
            started_at=now,
            device_clock=device_clock,
            device_timezone=(device_timezone or "")[:64] or None,
            location_consent=location is not None,
            latitude=location.latitude if location else None,
            longitude=location.longitude if location else None,
            location_accuracy_m=location.accuracy_m if location else None,
            bytes_received=0,
            chunk_count=0,
            duration_ms=0,
            chain_head=chain.genesis(public_id),
            alert_requested=alert,
            incident_id=row.incident_id,
            ledger_seq=-1,
        )
        session.add(capture)
        session.flush()
        subjects = [f"capture:{public_id}", f"capture-token:{row.id}"]
        if row.incident_id is not None:
            subjects.append(f"incident:{row.incident_id}")
        entry = ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="capture.open",
                actor=f"capture:{public_id}",
                subjects=subjects,
                params={
                    "session": public_id,
                    "token": row.id,
                    "mime_type": mime,
                    "device_clock": device_clock,
                    "device_timezone": capture.device_timezone,
                    "location": None
                    if location is None
                    else {
                        "latitude": location.latitude,
                        "longitude": location.longitude,
                        "accuracy_m": location.accuracy_m,
                    },
                    "genesis": capture.chain_head,
                    "incident": row.incident_id,
                    "alert": alert,
                },
            ),
        )
        capture.ledger_seq = entry.seq
        contacts = dict(row.contacts or {})
    from testigo.capture.pacer import pacer_for

    pacer_for(vault).note_open()
    return OpenedSession(public_id, upload_key, alert, contacts, now)


@dataclass
class _Hint:
    """What this process knows of a session: its row id, key hash and where it last ended."""

    session_id: int
    key_hash: str
    chunk_count: int
    bytes_received: int
    closed: bool = False


_HINTS: dict[tuple[int, str], _Hint] = {}
_HINTS_LOCK = threading.Lock()


def _hint(vault: Vault, public_id: str, upload_key: str) -> _Hint:
    """Authorise from memory once the session was seen (keys never change)."""
    with _HINTS_LOCK:
        hint = _HINTS.get((id(vault), public_id))
    if hint is None:
        row = authorize(vault, public_id, upload_key)
        hint = _Hint(
            row.id, row.upload_key_hash, row.chunk_count, row.bytes_received, row.status in CLOSED
        )
        with _HINTS_LOCK:
            if len(_HINTS) > 10_000:
                _HINTS.clear()
            _HINTS[(id(vault), public_id)] = hint
        return hint
    if not upload_key or not hmac.compare_digest(hint.key_hash, _digest(upload_key)):
        raise UploadKeyRefused("this upload key does not belong to this capture session")
    return hint


def forget_hint(vault: Vault, public_id: str) -> None:
    with _HINTS_LOCK:
        _HINTS.pop((id(vault), public_id), None)


def authorize(vault: Vault, public_id: str, upload_key: str) -> CaptureSession:
    with vault.reading() as session:
        row = session.scalar(select(CaptureSession).where(CaptureSession.public_id == public_id))
        if row is None:
            raise SessionNotFound(f"there is no capture session {public_id[:40]}")
        if not upload_key or not hmac.compare_digest(row.upload_key_hash, _digest(upload_key)):
            raise UploadKeyRefused("this upload key does not belong to this capture session")
        return row


def get_session(vault: Vault, public_id: str) -> CaptureSession:
    with vault.reading() as session:
        row = session.scalar(select(CaptureSession).where(CaptureSession.public_id == public_id))
        if row is None:
            raise SessionNotFound(f"there is no capture session {public_id[:40]}")
        return row


# ---------------------------------------------------------------------------------------------
# Chunks


@dataclass(frozen=True)
class ChunkAck:
    index: int
    offset: int
    size: int
    sha256: str
    chain_hash: str
    ledger_seq: int
    saved_ms: int
    duplicate: bool

    @property
    def next_offset(self) -> int:
        return self.offset + self.size

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "offset": self.offset,
            "size": self.size,
            "next_offset": self.next_offset,
            "next_index": self.index + 1,
            "sha256": self.sha256,
            "chain_hash": self.chain_hash,
            "ledger_seq": self.ledger_seq,
            "saved_ms": self.saved_ms,
            "duplicate": self.duplicate,
        }


def _ack_for(session: Session, capture: CaptureSession, chunk: CaptureChunk) -> ChunkAck:
    saved = session.scalar(
        select(func.coalesce(func.sum(CaptureChunk.duration_ms), 0)).where(
            CaptureChunk.session_id == capture.id, CaptureChunk.idx <= chunk.idx
        )
    )
    return ChunkAck(
        index=chunk.idx,
        offset=chunk.offset,
        size=chunk.size,
        sha256=chunk.sha256,
        chain_hash=chunk.chain_hash,
        ledger_seq=chunk.ledger_seq,
        saved_ms=int(saved or 0),
        duplicate=True,
    )


def _check_position(
    session: Session, capture: CaptureSession, index: int, offset: int, digest: str, size: int
) -> ChunkAck | None:
    """None when the chunk is the next one; the original ack when it is an exact resend."""
    if index < capture.chunk_count:
        chunk = session.get(CaptureChunk, (capture.id, index))
        assert chunk is not None
        if chunk.sha256 == digest and chunk.offset == offset and chunk.size == size:
            return _ack_for(session, capture, chunk)
        raise ChunkConflict(
            f"chunk {index} was already acknowledged with different content; a chunk can "
            "never be replaced",
            index=index,
            acknowledged_sha256=chunk.sha256,
            expected_offset=capture.bytes_received,
            expected_index=capture.chunk_count,
        )
    if capture.status in CLOSED:
        raise SessionClosed(
            f"this capture session is {capture.status}; it takes no more chunks",
            expected_offset=capture.bytes_received,
            expected_index=capture.chunk_count,
        )
    if index != capture.chunk_count or offset != capture.bytes_received:
        raise OffsetMismatch(
            f"the session expects chunk {capture.chunk_count} at offset "
            f"{capture.bytes_received}; got chunk {index} at offset {offset}",
            expected_offset=capture.bytes_received,
            expected_index=capture.chunk_count,
        )
    return None


def parse_sha256(value: str | None) -> str:
    """``Chunk-SHA256``: lowercase hex, or ``sha256 <base64>`` as in tus's Upload-Checksum."""
    text = (value or "").strip()
    if text.lower().startswith("sha256 "):
        import base64
        import binascii

        try:
            text = base64.b64decode(text[7:].strip(), validate=True).hex()
        except (binascii.Error, ValueError) as exc:
            raise BadChunkRequest("Chunk-SHA256 is not valid base64") from exc
    text = text.lower()
    if not _SHA256.match(text):
        raise BadChunkRequest("Chunk-SHA256 must be the chunk's SHA-256 in hex (64 characters)")
    return text


def append_chunk(
    vault: Vault,
    public_id: str,
    upload_key: str,
    *,
    index: int,
    offset: int,
    data: bytes,
    sha256_header: str,
    duration_ms: int = 0,
) -> ChunkAck:
    """Store and chain one chunk; returns once it is durable (the ack the device may trust)."""
    claimed = parse_sha256(sha256_header)
    if index < 0 or offset < 0:
        raise BadChunkRequest("Chunk-Index and Upload-Offset must be 0 or more")
    limit = max_chunk_bytes()
    if len(data) > limit:
        raise ChunkTooLarge(f"a chunk may have at most {limit:,} bytes", max_bytes=limit)
    if not data:
        raise BadChunkRequest("an empty chunk carries nothing to store")
    digest = hashlib.sha256(data).hexdigest()
    if digest != claimed:
        raise ChecksumMismatch(
            "the chunk's SHA-256 is not the one in Chunk-SHA256: it was corrupted or cut short "
            "on the way; send it again",
            received_sha256=digest,
        )
    duration = max(0, min(int(duration_ms), MAX_CHUNK_DURATION_MS))
    hint = _hint(vault, public_id, upload_key)
    if hint.closed or index != hint.chunk_count or offset != hint.bytes_received:
        # Not the chunk this process expects next: a resend, a refusal, or another process
        # moved the session on. Ask the database before storing anything.
        with vault.reading() as session:
            capture = session.get(CaptureSession, hint.session_id)
            assert capture is not None
            early = _check_position(session, capture, index, offset, digest, len(data))
        if early is not None:
            return early
    try:
        blob = vault.blobs.put_stream(io.BytesIO(data), expected_size=len(data))
    except InsufficientSpaceError as exc:
        log.error("capture %s: chunk %d not stored: %s", public_id, index, exc)
        raise StoreFull(f"the chunk was not saved: {exc}") from exc
    except StorageError as exc:
        log.error("capture %s: chunk %d not stored: %s", public_id, index, exc)
        raise StoreUnavailable(f"the chunk was not saved: {exc}") from exc
    if blob.sha256 != digest:  # the store hashed something else: never acknowledge
        raise ChecksumMismatch("the stored chunk does not hash as received; send it again")
    from testigo.capture.committer import ChunkWrite, committer_for

    write = ChunkWrite(hint.session_id, index, offset, digest, len(data), duration)
    try:
        ack = committer_for(vault, _commit_chunk, _write_lock(vault)).submit(write)
    except SessionClosed:
        hint.closed = True  # closed by another process: refuse the next ones before storing
        raise
    if not ack.duplicate:
        hint.chunk_count, hint.bytes_received = ack.index + 1, ack.next_offset
    from testigo.capture.pacer import pacer_for

    pacer_for(vault).note_append()
    return ack


_SELECT_STATE = (
    "SELECT public_id, status, chunk_count, bytes_received, duration_ms, chain_head, "
    "incident_id FROM capture_sessions WHERE id = ?"
)
_SELECT_ITEM = "SELECT id, media_type FROM evidence_items WHERE sha256 = ?"
_INSERT_ITEM = (
    "INSERT INTO evidence_items (sha256, size, media_type, kind, flags, details, created_at, "
    "ledger_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_INSERT_ACQUISITION = (
    "INSERT INTO acquisitions (item_id, original_name, acquired_by, acquired_at, acquired_from, "
    "method, note, incident_id, file_modified_at, ledger_seq) "
    "VALUES (?, ?, ?, ?, NULL, 'capture.live', NULL, NULL, NULL, ?)"
)
_INSERT_CHUNK = (
    'INSERT INTO capture_chunks (session_id, idx, "offset", size, sha256, chain_hash, item_id, '
    "ledger_seq, duration_ms, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_SESSION = (
    "UPDATE capture_sessions SET chunk_count = ?, bytes_received = ?, duration_ms = ?, "
    "chain_head = ?, last_chunk_at = ?, status = 'live' WHERE id = ?"
)


@functools.cache
def _sql(statement: str, paramstyle: str) -> str:
    return statement if paramstyle == "qmark" else statement.replace("?", "%s")


def _commit_chunk(session: Session, write: ChunkWrite) -> ChunkAck:
    """One chunk's rows and ledger entries, in the batch's transaction; refusals write nothing.

    Plain SQL on the driver, like the ledger's own appends: this runs for every chunk of every
    phone, and building SQLAlchemy statements would cost more than the writes themselves.
    """
    index, offset, digest, size = write.index, write.offset, write.digest, write.size
    dialect = session.get_bind().dialect
    style = dialect.paramstyle
    cursor = session.connection().connection.cursor()
    try:
        lock = " FOR UPDATE" if dialect.name == "postgresql" else ""
        cursor.execute(_sql(_SELECT_STATE, style) + lock, (write.session_id,))
        state = cursor.fetchone()
        assert state is not None
        public_id, status, count, received, saved, head, incident_id = state
        if index != count or offset != received or status in CLOSED:
            capture = session.get(CaptureSession, write.session_id, populate_existing=True)
            assert capture is not None
            early = _check_position(session, capture, index, offset, digest, size)
            assert early is not None  # any other position was refused by the check
            return early
        chain_hash = chain.link(head, index, digest)
        cursor.execute(_sql(_SELECT_ITEM, style), (digest,))
        found = cursor.fetchone()
        media_type = CHUNK_MEDIA_TYPE if found is None else str(found[1])
        subjects = [f"sha256:{digest}", f"capture:{public_id}"]
        if incident_id is not None:
            subjects.append(f"incident:{incident_id}")
        actor = f"capture:{public_id}"
        name = f"capture-{public_id}-{index:06d}.chunk"
        entries = []
        if found is None:
            # The chunk's bytes are new evidence: record them as every original is recorded
            # (an ``evidence.ingest`` entry the verifier checks the item against).
            entries.append(
                ledger.NewEntry(
                    entry_type="evidence.ingest",
                    actor=actor,
                    subjects=[f"sha256:{digest}"],
                    params={
                        "size": size,
                        "media_type": media_type,
                        "original_name": name,
                        "method": "capture.live",
                        "acquired_from": None,
                        "note": None,
                        "incident": None,
                        "duplicate": False,
                        "flags": [],
                        "file_modified_at": None,
                        "capture": public_id,
                        "index": index,
                    },
                )
            )
        entries.append(
            ledger.NewEntry(
                entry_type="capture.chunk",
                actor=actor,
                subjects=subjects,
                params={
                    "session": public_id,
                    "index": index,
                    "offset": offset,
                    "size": size,
                    "sha256": digest,
                    "chain": chain_hash,
                    "previous_chain": head,
                    "duration_ms": write.duration_ms,
                },
            )
        )
        appended = ledger.append_entries(session, entries)
        entry = appended[-1]
        now = ledger.utc_now()
        if found is None:
            details = json.dumps({"capture": public_id, "index": index})
            cursor.execute(
                _sql(_INSERT_ITEM, style),
                (digest, size, media_type, "capture_chunk", "{}", details, now, appended[0].seq),
            )
            inserted = cursor.fetchone()
            assert inserted is not None
            item_id = int(inserted[0])
            cursor.execute(
                _sql(_INSERT_ACQUISITION, style), (item_id, name, actor, now, appended[0].seq)
            )
        else:
            item_id = int(found[0])
        cursor.execute(
            _sql(_INSERT_CHUNK, style),
            (
                write.session_id,
                index,
                offset,
                size,
                digest,
                chain_hash,
                item_id,
                entry.seq,
                write.duration_ms,
                now,
            ),
        )
        saved = int(saved) + write.duration_ms
        cursor.execute(
            _sql(_UPDATE_SESSION, style),
            (index + 1, offset + size, saved, chain_hash, now, write.session_id),
        )
    finally:
        cursor.close()
    return ChunkAck(
        index=index,
        offset=offset,
        size=size,
        sha256=digest,
        chain_hash=chain_hash,
        ledger_seq=entry.seq,
        saved_ms=saved,
        duplicate=False,
    )


def chunks_of(vault: Vault, session_id: int, upto: int | None = None) -> list[CaptureChunk]:
    with vault.reading() as session:
        query = select(CaptureChunk).where(CaptureChunk.session_id == session_id)
        if upto is not None:
            query = query.where(CaptureChunk.idx < upto)
        return list(session.scalars(query.order_by(CaptureChunk.idx)))
