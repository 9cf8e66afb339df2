"""Derived items: a transcript, a keyframe, a redacted copy. New items that name their parents.

Originals are never changed; anything computed from them is stored as a new content-addressed
item, with an ``evidence.derive`` ledger entry that records the parents' hashes and the exact
parameters of the derivation, so anyone can see (and redo) how it was made.

``store_derived`` does it all at once. A caller that must keep several results all or nothing (an
analysis step) calls ``prepare_derived`` for each file first, which only writes its blob, and then
``record_derived`` for each inside the one transaction that also stores everything else.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.db.models import EvidenceItem, IncidentItem, ItemParent
from testigo.errors import NotFoundError, UsageError
from testigo.vault import ledger
from testigo.vault.blobs import ProgressCallback
from testigo.vault.ingest import IngestResult, SniffingReader
from testigo.vault.mediatype import detect_media_type
from testigo.vault.service import Vault


def store_derived(
    vault: Vault,
    content: bytes | BinaryIO,
    *,
    parents: Sequence[int],
    derivation: str,
    params: Mapping[str, Any],
    actor: str,
    media_type: str | None = None,
    kind: str = "derived",
    details: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    session: Session | None = None,
) -> IngestResult:
    """Store ``content`` as an item derived from ``parents`` by ``derivation`` with ``params``.

    If identical content already exists (the same thumbnail computed twice), the existing item is
    reused and the derivation is still ledgered, so the record of what was done stays complete.
    Derived items join the incidents their parents belong to. With ``session`` the records join
    the caller's transaction.
    """
    prepared = prepare_derived(
        vault,
        content,
        parents=parents,
        derivation=derivation,
        params=params,
        actor=actor,
        media_type=media_type,
        kind=kind,
        details=details,
        progress=progress,
        session=session,
    )
    if session is not None:
        return record_derived(session, prepared)
    with vault.transaction() as own:
        return record_derived(own, prepared)


@dataclass(frozen=True)
class PreparedDerived:
    """A derived file whose blob is stored but whose item and ledger entry are not written yet.

    Blobs are content-addressed, so one that no row names is harmless (and reused by the next
    store of the same bytes); ``record_derived`` writes the records in the caller's transaction.
    """

    sha256: str
    size: int
    media_type: str
    parents: tuple[int, ...]
    parent_hashes: tuple[str, ...]
    derivation: str
    params: dict[str, Any]
    actor: str
    kind: str
    details: dict[str, Any]


def prepare_derived(
    vault: Vault,
    content: bytes | BinaryIO,
    *,
    parents: Sequence[int],
    derivation: str,
    params: Mapping[str, Any],
    actor: str,
    media_type: str | None = None,
    kind: str = "derived",
    details: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    session: Session | None = None,
) -> PreparedDerived:
    """Write the blob of a derived file, and nothing else (see ``record_derived``)."""
    if not parents:
        raise UsageError("a derived item must name at least one parent")
    if not derivation or len(derivation) > 64:
        raise UsageError("a derivation needs a name of at most 64 characters")
    unique = tuple(dict.fromkeys(parents))
    if session is None:
        with vault.reading() as reader:
            hashes = _parent_hashes(reader, unique)
    else:
        hashes = _parent_hashes(session, unique)
    stream: BinaryIO = io.BytesIO(content) if isinstance(content, bytes | bytearray) else content
    reader_stream = SniffingReader(stream)
    blob = vault.blobs.put_stream(reader_stream, progress=progress)  # type: ignore[arg-type]
    return PreparedDerived(
        sha256=blob.sha256,
        size=blob.size,
        media_type=media_type or detect_media_type(reader_stream.head),
        parents=unique,
        parent_hashes=hashes,
        derivation=derivation,
        params=dict(params),
        actor=actor,
        kind=kind,
        details=dict(details) if details else {},
    )


def _parent_hashes(session: Session, parents: Sequence[int]) -> tuple[str, ...]:
    """The parents' SHA-256, in order; refuses ids that name no item."""
    query = select(EvidenceItem.id, EvidenceItem.sha256).where(EvidenceItem.id.in_(parents))
    rows = {int(item_id): str(sha256) for item_id, sha256 in session.execute(query)}
    missing = [p for p in parents if p not in rows]
    if missing:
        raise NotFoundError(f"the parent item(s) {missing} do not exist")
    return tuple(rows[p] for p in parents)


def record_derived(session: Session, rec: PreparedDerived) -> IngestResult:
    """Write the item, its parents and its ``evidence.derive`` entry in the caller's transaction.

    The parents were checked when the blob was prepared; items are never removed, so they still
    exist.
    """
    item = session.scalars(select(EvidenceItem).where(EvidenceItem.sha256 == rec.sha256)).first()
    entry = ledger.append_entry(
        session,
        ledger.NewEntry(
            entry_type="evidence.derive",
            actor=rec.actor,
            subjects=[f"sha256:{rec.sha256}", *(f"sha256:{h}" for h in rec.parent_hashes)],
            params={
                "sha256": rec.sha256,
                "size": rec.size,
                "media_type": rec.media_type if item is None else item.media_type,
                "derivation": rec.derivation,
                "parents": list(rec.parent_hashes),
                "parameters": rec.params,
                "duplicate": item is not None,
            },
        ),
    )
    now = ledger.utc_now()
    duplicate = item is not None
    if item is None:
        item = EvidenceItem(
            sha256=rec.sha256,
            size=rec.size,
            media_type=rec.media_type,
            kind=rec.kind,
            flags={},
            details={"derivation": rec.derivation, **rec.details},
            created_at=now,
            ledger_seq=entry.seq,
        )
        session.add(item)
        session.flush()
        for parent_id in rec.parents:
            session.add(ItemParent(item_id=item.id, parent_id=parent_id, relation=rec.derivation))
    incident_ids = set(
        session.scalars(
            select(IncidentItem.incident_id).where(IncidentItem.item_id.in_(rec.parents))
        )
    )
    for incident_id in sorted(incident_ids):
        if session.get(IncidentItem, (incident_id, item.id)) is None:
            session.add(IncidentItem(incident_id=incident_id, item_id=item.id, added_at=now))
    session.flush()
    return IngestResult(
        path=rec.derivation,
        sha256=rec.sha256,
        size=rec.size,
        media_type=item.media_type,
        item_id=item.id,
        acquisition_id=0,
        ledger_seq=entry.seq,
        duplicate=duplicate,
        flags=[],
    )


def parents_of(vault: Vault, item_id: int) -> list[tuple[int, str]]:
    with vault.reading() as session:
        rows = session.execute(
            select(ItemParent.parent_id, ItemParent.relation).where(ItemParent.item_id == item_id)
        )
        return [(int(p), str(r)) for p, r in rows]
