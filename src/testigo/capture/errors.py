"""Refusals of the capture protocol; each carries the HTTP status the API answers with."""

from __future__ import annotations

from typing import Any

from testigo.errors import TestigoError


class CaptureError(TestigoError):
    """A refused capture request: nothing was stored and the session is unchanged."""

    status = 400
    code = "capture_refused"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": str(self), "code": self.code, "status": self.status, **self.details}


class BadChunkRequest(CaptureError):
    """A header is missing or malformed, or the body is shorter than it said (truncated)."""

    code = "bad_request"


class TokenRefused(CaptureError):
    """The capture link is unknown, expired or revoked: ask the network for a new one."""

    status = 401
    code = "token_refused"


class TokenUsed(CaptureError):
    """The capture link already opened its session; it cannot open another."""

    status = 403
    code = "token_used"


class UploadKeyRefused(CaptureError):
    """The upload key does not belong to this session."""

    status = 401
    code = "upload_key_refused"


class SessionNotFound(CaptureError):
    status = 404
    code = "no_such_session"


class OffsetMismatch(CaptureError):
    """The chunk does not start where the session ends: resend from ``expected_offset``."""

    status = 409
    code = "offset_mismatch"


class ChunkConflict(CaptureError):
    """A chunk index that is already acknowledged arrived with different bytes (forged)."""

    status = 409
    code = "chunk_conflict"


class SessionClosed(CaptureError):
    """The session was finished or abandoned; it takes no more chunks."""

    status = 409
    code = "session_closed"


class ChunkTooLarge(CaptureError):
    status = 413
    code = "chunk_too_large"


class ChecksumMismatch(CaptureError):
    """The body's SHA-256 is not the one in ``Chunk-SHA256`` (corrupted or truncated on the way)."""

    status = 460
    code = "checksum_mismatch"


class ChainBroken(CaptureError):
    """Stored chunks no longer match the session's hash chain."""

    status = 500
    code = "chain_broken"


class StoreUnavailable(CaptureError):
    """The chunk could not be stored (in the blob store, or in its mirror): it is not
    acknowledged, and the phone keeps it and sends it again."""

    status = 503
    code = "storage_unavailable"


class StoreFull(StoreUnavailable):
    """The blob store has no room for the chunk; the phone keeps it until there is."""

    status = 507
    code = "storage_full"
