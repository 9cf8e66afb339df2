"""Evidence over the web: item details, inclusion proofs, safe downloads, resumable uploads.

Uploads follow a small tus-like protocol with explicit offsets. The bytes go to a file under the
vault home, never into memory; when the last byte arrives the file is stored with
:func:`testigo.vault.ingest.store_stream` (hashed while copied, ledgered) and removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select

from testigo.db.models import Acquisition, EvidenceItem
from testigo.errors import NotFoundError, RefusedInputError, TestigoError
from testigo.protect.c2pa_step import item_credentials
from testigo.vault import ledger
from testigo.vault.ingest import IngestResult, store_stream
from testigo.vault.proofs import checkpoint_dict, prove_entries
from testigo.vault.service import Vault
from testigo.web import access, upload_pipeline
from testigo.web.accounts import Principal
from testigo.web.incident_view import ACQUISITION_COLUMNS, ITEM_COLUMNS, item_dict
from testigo.web.models import Upload

DEFAULT_MAX_UPLOAD = 4 * 1024**3
# Types a browser may show inline; anything else is served as an attachment of unknown type.
INLINE_TYPES = re.compile(r"^(image/(png|jpeg|gif|webp)|video/[\w.+-]+|audio/[\w.+-]+|text/plain)$")
_UNSAFE_NAME = re.compile(r"[^\w.() -]+", re.UNICODE)


class UploadConflict(TestigoError):
    """The client's offset is not the server's: ask with HEAD and resume from there."""


class UploadTooLarge(RefusedInputError):
    """More bytes than the upload declared, or than the configured limit."""


def max_upload_bytes() -> int:
    raw = os.environ.get("TESTIGO_MAX_UPLOAD_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_UPLOAD
    try:
        value = int(raw)
    except ValueError as exc:
        raise RefusedInputError("TESTIGO_MAX_UPLOAD_BYTES must be a whole number of bytes") from exc
    return max(value, 0)


def safe_filename(name: str | None, fallback: str) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = _UNSAFE_NAME.sub("_", base).strip(" .")[:200]
    return clean or fallback


_ITEM = select(*ITEM_COLUMNS).where(EvidenceItem.id == bindparam("item"))
_ACQUISITIONS = (
    select(*ACQUISITION_COLUMNS)
    .where(Acquisition.item_id == bindparam("item"))
    .order_by(Acquisition.id)
)


def get_item(vault: Vault, principal: Principal, item_id: int, *, action: str) -> dict[str, Any]:
    """An item with its acquisitions and incidents; restricted views are ledgered."""
    with vault.reading() as session:
        item = session.execute(_ITEM, {"item": item_id}).first()
        if item is None:
            raise NotFoundError(f"there is no item {item_id}")
        allowed, restricted = access.item_access(session, principal, item_id)
        if not allowed:
            raise NotFoundError(f"there is no item {item_id}")
        acquisitions = list(session.execute(_ACQUISITIONS, {"item": item_id}).all())
        incidents = list(session.info.get(("item_incidents", item_id), []))
        data = item_dict(item, acquisitions)
        data["c2pa"] = item_credentials(session, item_id, data["media_type"])
    data["incidents"] = incidents
    data["restricted"] = bool(restricted)
    data["inline"] = bool(INLINE_TYPES.match(data["media_type"]))
    if restricted:
        access.record_view(
            vault,
            principal,
            action=action,
            subjects=[f"item:{item_id}", *(f"incident:{i}" for i in restricted)],
            params={"sha256": data["sha256"]},
        )
    return data


def item_proof(vault: Vault, principal: Principal, item_id: int) -> dict[str, Any]:
    """The ledger entries about an item with inclusion proofs in the newest signed checkpoint."""
    item = get_item(vault, principal, item_id, action="proof")
    with vault.reading() as session:
        seqs = [e.seq for e in ledger.entries_for_subject(session, f"sha256:{item['sha256']}")]
        latest = ledger.latest_checkpoint(session)
    if not seqs:
        raise NotFoundError(f"nothing in the ledger concerns item {item_id}")
    if latest is None or latest.tree_size <= max(seqs):
        latest = vault.checkpoint()
    with vault.reading() as session:
        proofs = prove_entries(session, seqs, latest)
    key = vault.signing_key()
    return {
        "item": {k: item[k] for k in ("id", "sha256", "size", "media_type")},
        "origin": vault.origin,
        "verifier_key": key.vkey,
        "key_fingerprint": key.public_key_fingerprint(),
        "checkpoint": checkpoint_dict(latest),
        "entries": [
            {
                "seq": p.seq,
                "leaf_hash": p.leaf_hash.hex(),
                "entry_canonical_b64": p.to_dict()["entry_canonical_b64"],
                "proof": [h.hex() for h in p.proof],
                "type": p.entry.get("type"),
                "time": p.entry.get("time"),
            }
            for p in proofs
        ],
    }


def blob_path(vault: Vault, sha256: str) -> Path | None:
    """The local file of a blob when the store is a folder; the digest was checked on the way."""
    path_for = getattr(vault.blobs, "path_for", None)
    if path_for is None:
        return None
    path = Path(path_for(sha256)).resolve()
    root = Path(vault.settings.blobs_url).resolve()
    if root not in path.parents:
        raise NotFoundError("the item's file is not inside the blob store")
    return path


# -- resumable uploads -------------------------------------------------------------------------


def _upload_dir(vault: Vault) -> Path:
    folder = vault.settings.home / "uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _upload_path(vault: Vault, upload_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
        raise NotFoundError("there is no such upload")
    return _upload_dir(vault) / f"{upload_id}.part"


def upload_dict(row: Upload, offset: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "size": row.size,
        "offset": offset,
        "incident_id": row.incident_id,
        "complete": row.item_id is not None,
        "item_id": row.item_id,
        "result": row.result,
        "location": f"/api/v1/uploads/{row.id}",
    }


def create_upload(
    vault: Vault,
    principal: Principal,
    *,
    name: str,
    size: int,
    incident_id: int | None,
    note: str | None,
) -> dict[str, Any]:
    access.require_role(principal, "contributor")
    limit = max_upload_bytes()
    if size < 0:
        raise RefusedInputError("the upload size cannot be negative")
    if size > limit:
        raise UploadTooLarge(f"the file is {size:,} bytes; the limit is {limit:,}")
    upload_id = secrets.token_hex(16)
    with vault.transaction(durable=True) as session:
        if incident_id is not None:
            access.check_incident(session, principal, incident_id)
        row = Upload(
            id=upload_id,
            user_id=principal.user_id,
            incident_id=incident_id,
            name=safe_filename(name, "upload"),
            size=size,
            note=(note or None) and (note or "")[:2000],
            created_at=ledger.utc_now(),
        )
        session.add(row)
    fd = os.open(_upload_path(vault, upload_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    return upload_dict(row, 0)


def _own_upload(vault: Vault, principal: Principal, upload_id: str) -> Upload:
    with vault.reading() as session:
        row = session.get(Upload, upload_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFoundError("there is no such upload")
    return row


def upload_status(vault: Vault, principal: Principal, upload_id: str) -> dict[str, Any]:
    row = _own_upload(vault, principal, upload_id)
    if row.item_id is not None:
        return upload_dict(row, row.size)
    try:
        offset = _upload_path(vault, upload_id).stat().st_size
    except FileNotFoundError as exc:
        raise NotFoundError("this upload was abandoned: start again") from exc
    return upload_dict(row, offset)


async def append_upload(
    vault: Vault,
    principal: Principal,
    upload_id: str,
    offset: int,
    chunks: AsyncIterator[bytes],
) -> tuple[Upload, int, Path, upload_pipeline.Follower]:
    """Append a request body at ``offset``; returns the upload, its new offset, its file and the
    follower storing it. When the offset reaches the size, call :func:`finish_upload` (off the
    event loop)."""
    row = _own_upload(vault, principal, upload_id)
    if row.item_id is not None:
        raise UploadConflict("this upload is already complete")
    path = _upload_path(vault, upload_id)
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError as exc:
        raise NotFoundError("this upload was abandoned: start again") from exc
    try:
        current = os.fstat(fd).st_size
        if offset != current:
            raise UploadConflict(f"the upload is at offset {current}, not {offset}")
        follower = upload_pipeline.follower_for(vault, principal, row, path, current)
        os.lseek(fd, current, os.SEEK_SET)
        written = current
        try:
            async for chunk in chunks:
                if written + len(chunk) > row.size:
                    raise UploadTooLarge(f"more bytes than the {row.size:,} this upload declared")
                view = memoryview(chunk)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                written += len(chunk)
                follower.reader.advance(written)
        except UploadTooLarge:
            upload_pipeline.forget(upload_id)
            os.ftruncate(fd, current)
            raise
        except BaseException:
            # A lost connection keeps what arrived (the client resumes from there), but the
            # background copy is dropped and starts again from the file on resume.
            upload_pipeline.forget(upload_id)
            raise
    finally:
        os.close(fd)
    return row, written, path, follower


def finish_upload(
    vault: Vault,
    principal: Principal,
    row: Upload,
    path: Path,
    follower: upload_pipeline.Follower,
) -> dict[str, Any]:
    """Wait for the background copy; if it failed, store the file again in the foreground so the
    user gets the real reason (or the item)."""
    result = follower.wait()
    upload_pipeline.finished(row.id)
    if result is None:
        return complete_upload(vault, principal, row, path)
    return _record_upload(vault, row, path, result)


def complete_upload(vault: Vault, principal: Principal, row: Upload, path: Path) -> dict[str, Any]:
    """Store the finished file in the vault (streamed from disk) and forget the temporary."""
    with path.open("rb", buffering=0) as stream:
        result: IngestResult = store_stream(
            vault,
            stream,
            name=row.name,
            acquired=upload_pipeline.upload_acquired(principal, row),
            expected_size=row.size,
        )
    return _record_upload(vault, row, path, result)


def _record_upload(vault: Vault, row: Upload, path: Path, result: IngestResult) -> dict[str, Any]:
    with vault.transaction(durable=True) as session:
        stored = session.get(Upload, row.id)
        assert stored is not None
        stored.item_id = result.item_id
        stored.result = result.to_dict()
        row = stored
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    if row.incident_id is not None:
        from testigo.web.search import reindex

        reindex(vault, row.incident_id)
    return upload_dict(row, row.size)


def cancel_upload(vault: Vault, principal: Principal, upload_id: str) -> None:
    row = _own_upload(vault, principal, upload_id)
    with contextlib.suppress(FileNotFoundError):
        _upload_path(vault, upload_id).unlink()
    if row.item_id is None:
        with vault.transaction() as session:
            stored = session.get(Upload, upload_id)
            if stored is not None:
                session.delete(stored)
