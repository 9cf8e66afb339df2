"""Proofs a reader can check without trusting the server: inclusion and consistency."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.db.models import Checkpoint as CheckpointRow
from testigo.db.models import EvidenceItem
from testigo.errors import NotFoundError, UsageError
from testigo.vault import ledger, merkle
from testigo.vault.service import Vault


def resolve_item(session: Session, ref: str) -> EvidenceItem:
    """An item by its id, its SHA-256, or a unique prefix of at least 8 hex digits."""
    ref = ref.strip().lower().removeprefix("sha256:")
    if ref.isdigit() and len(ref) < 12:
        item = session.get(EvidenceItem, int(ref))
        if item is None:
            raise NotFoundError(f"there is no item {ref}")
        return item
    if len(ref) < 8 or any(c not in "0123456789abcdef" for c in ref):
        raise UsageError(
            f"{ref!r} is neither an item id nor a SHA-256 (or a prefix of 8+ hex digits)"
        )
    matches = list(
        session.scalars(select(EvidenceItem).where(EvidenceItem.sha256.startswith(ref)).limit(2))
    )
    if not matches:
        raise NotFoundError(f"no item has a SHA-256 starting with {ref}")
    if len(matches) > 1:
        raise UsageError(f"{ref} matches several items: give more digits")
    return matches[0]


@dataclass
class EntryProof:
    seq: int
    leaf_hash: bytes
    entry: dict[str, Any]
    body: bytes
    proof: list[bytes]
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "leaf_hash": self.leaf_hash.hex(),
            "entry": self.entry,
            "entry_canonical_b64": base64.b64encode(self.body).decode(),
            "proof": [h.hex() for h in self.proof],
            "verified": self.verified,
        }


def checkpoint_dict(row: CheckpointRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "size": row.tree_size,
        "root": bytes(row.root_hash).hex(),
        "created_at": row.created_at,
        "note": row.note,
    }


def prove_entries(session: Session, seqs: list[int], checkpoint: CheckpointRow) -> list[EntryProof]:
    proofs: list[EntryProof] = []
    root = bytes(checkpoint.root_hash)
    for seq in seqs:
        if seq >= checkpoint.tree_size:
            continue
        row = ledger.get_entry(session, seq)
        proof = ledger.prove_inclusion(session, seq, checkpoint.tree_size)
        leaf = merkle.leaf_hash(bytes(row.body))
        proofs.append(
            EntryProof(
                seq=seq,
                leaf_hash=leaf,
                entry=json.loads(row.body),
                body=bytes(row.body),
                proof=proof,
                verified=merkle.verify_inclusion(seq, checkpoint.tree_size, leaf, proof, root),
            )
        )
    return proofs


def prove_item(vault: Vault, ref: str) -> dict[str, Any]:
    """Every ledger entry about an item, each with its inclusion proof in the newest checkpoint."""
    if ref.startswith("entry:"):
        try:
            seqs = [int(ref.removeprefix("entry:"))]
        except ValueError as exc:
            raise UsageError("write a ledger entry as entry:NUMBER") from exc
        subject: dict[str, Any] = {"entry": seqs[0]}
    else:
        with vault.reading() as session:
            item = resolve_item(session, ref)
            subject = {
                "item_id": item.id,
                "sha256": item.sha256,
                "size": item.size,
                "media_type": item.media_type,
            }
            seqs = [e.seq for e in ledger.entries_for_subject(session, f"sha256:{item.sha256}")]
    checkpoint = vault.checkpoint()
    with vault.reading() as session:
        proofs = prove_entries(session, seqs, checkpoint)
    if not proofs:
        raise NotFoundError(f"nothing in the ledger concerns {ref}")
    return {
        "subject": subject,
        "checkpoint": checkpoint_dict(checkpoint),
        "entries": [p.to_dict() for p in proofs],
        "verified": all(p.verified for p in proofs),
    }


def prove_consistency(vault: Vault, old_size: int, new_size: int) -> dict[str, Any]:
    with vault.reading() as session:
        proof = ledger.prove_consistency(session, old_size, new_size)
        old_root = ledger.root_at(session, old_size)
        new_root = ledger.root_at(session, new_size)
        old_cp = ledger.checkpoint_for_size(session, old_size)
        new_cp = ledger.checkpoint_for_size(session, new_size)
    return {
        "old_size": old_size,
        "new_size": new_size,
        "old_root": old_root.hex(),
        "new_root": new_root.hex(),
        "proof": [h.hex() for h in proof],
        "verified": merkle.verify_consistency(old_size, new_size, old_root, new_root, proof),
        "old_checkpoint": checkpoint_dict(old_cp) if old_cp else None,
        "new_checkpoint": checkpoint_dict(new_cp) if new_cp else None,
    }
