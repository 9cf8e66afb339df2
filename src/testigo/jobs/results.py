"""Annotations: analysis results that are not files, each batch committed to by a ledger entry.

A step's annotations are written in one transaction together with one ``annotation.add`` ledger
entry (``annotation.edit`` for a corrected transcript line). The entry names every item concerned
and carries the SHA-256 of the canonical JSON of the batch, so ``verify_annotations`` can show that
no annotation was altered, added or removed behind the ledger's back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.db.models import EvidenceItem
from testigo.errors import NotFoundError
from testigo.jobs.models import Annotation
from testigo.vault import ledger
from testigo.vault.canonical import canonical_json
from testigo.vault.service import Vault

ANNOTATION_FORMAT = 1


@dataclass(frozen=True)
class NewAnnotation:
    """A result to store: about ``item_id`` from ``start`` to ``end`` seconds (None: whole)."""

    item_id: int
    kind: str
    data: dict[str, Any]
    start: float | None = None
    end: float | None = None
    supersedes: int | None = None


def annotation_record(sha256: str, row_or_new: Annotation | NewAnnotation) -> dict[str, Any]:
    """The part of an annotation the ledger commits to (item named by hash, not local id)."""
    if isinstance(row_or_new, Annotation):
        start, end = row_or_new.start_seconds, row_or_new.end_seconds
    else:
        start, end = row_or_new.start, row_or_new.end
    return {
        "item": sha256,
        "kind": row_or_new.kind,
        "start": start,
        "end": end,
        "data": row_or_new.data,
        "supersedes": row_or_new.supersedes,
    }


def batch_digest(records: Sequence[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical_json(list(records))).hexdigest()


@dataclass
class WrittenBatch:
    ledger_seq: int
    annotation_ids: list[int] = field(default_factory=list)


def write_annotations(
    session: Session,
    annotations: Sequence[NewAnnotation],
    *,
    actor: str,
    params: dict[str, Any],
    entry_type: str = "annotation.add",
    job_id: int | None = None,
    about: Sequence[int] = (),
) -> WrittenBatch | None:
    """Store ``annotations`` and their ledger entry in the caller's transaction.

    ``about`` names items the entry concerns even when there are no annotations (a step that
    found nothing still records that it looked).
    """
    if not annotations and not about:
        return None
    item_ids = sorted({a.item_id for a in annotations} | set(about))
    hashes: dict[int, str] = {
        int(i): str(h)
        for i, h in session.execute(
            select(EvidenceItem.id, EvidenceItem.sha256).where(EvidenceItem.id.in_(item_ids))
        )
    }
    missing = [i for i in item_ids if i not in hashes]
    if missing:
        raise NotFoundError(f"cannot annotate item(s) {missing}: they do not exist")
    records = [annotation_record(hashes[a.item_id], a) for a in annotations]
    kinds: dict[str, int] = {}
    for annotation in annotations:
        kinds[annotation.kind] = kinds.get(annotation.kind, 0) + 1
    entry = ledger.append_entry(
        session,
        ledger.NewEntry(
            entry_type=entry_type,
            actor=actor,
            subjects=[f"sha256:{hashes[i]}" for i in item_ids],
            params={
                **params,
                "format": ANNOTATION_FORMAT,
                "count": len(records),
                "kinds": kinds,
                "digest": batch_digest(records),
            },
        ),
    )
    now = ledger.utc_now()
    batch = WrittenBatch(ledger_seq=entry.seq)
    for annotation in annotations:
        row = Annotation(
            item_id=annotation.item_id,
            kind=annotation.kind,
            start_seconds=annotation.start,
            end_seconds=annotation.end,
            data=annotation.data,
            supersedes=annotation.supersedes,
            job_id=job_id,
            created_by=actor,
            created_at=now,
            ledger_seq=entry.seq,
        )
        session.add(row)
        session.flush()
        batch.annotation_ids.append(row.id)
    return batch


def annotations_for(
    vault: Vault, item_id: int, *, kinds: Sequence[str] | None = None
) -> list[Annotation]:
    """An item's annotations in time order (whole-item ones first), oldest first on ties."""
    query = select(Annotation).where(Annotation.item_id == item_id)
    if kinds:
        query = query.where(Annotation.kind.in_(list(kinds)))
    with vault.reading() as session:
        rows = list(session.scalars(query.order_by(Annotation.id)))
    rows.sort(key=lambda r: (r.start_seconds is not None, r.start_seconds or 0.0, r.id))
    return rows


@dataclass
class AnnotationCheck:
    batches_checked: int = 0
    annotations_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_annotations(vault: Vault) -> AnnotationCheck:
    """Recompute each batch's digest from the stored rows and compare it with the ledger."""
    report = AnnotationCheck()
    with vault.reading() as session:
        hashes = {
            int(i): str(h) for i, h in session.execute(select(EvidenceItem.id, EvidenceItem.sha256))
        }
        batches: dict[int, list[Annotation]] = {}
        for row in session.scalars(select(Annotation).order_by(Annotation.id)):
            batches.setdefault(row.ledger_seq, []).append(row)
        for seq, rows in sorted(batches.items()):
            report.batches_checked += 1
            report.annotations_checked += len(rows)
            entry = ledger.get_entry(session, seq)
            params = _params(entry.body)
            records = [annotation_record(hashes.get(r.item_id, "?"), r) for r in rows]
            if params.get("count") != len(records) or params.get("digest") != batch_digest(records):
                report.problems.append(
                    f"annotations of ledger entry {seq} do not match what it recorded"
                )
    return report


def _params(body: bytes) -> dict[str, Any]:
    return dict(json.loads(body).get("params", {}))
