"""Verification of a whole vault: blobs, ledger entries, tree nodes, checkpoints, evidence rows.

Nothing stored is trusted: every leaf is re-hashed from its entry's bytes, the tree is rebuilt from
those leaves and compared with the stored nodes, checkpoint roots are compared with the rebuilt
tree (not with stored nodes), and every blob is re-hashed from the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from testigo.db.models import Acquisition, EvidenceItem, LedgerEntry, LedgerNode
from testigo.db.models import Checkpoint as CheckpointRow
from testigo.errors import TestigoError
from testigo.vault import merkle
from testigo.vault.canonical import canonical_json, parse_json
from testigo.vault.checkpoint import verify_checkpoint
from testigo.vault.keys import Verifier
from testigo.vault.ledger import node_reader
from testigo.vault.service import Vault

if TYPE_CHECKING:
    from testigo.vault.mirror import MirroredBlobStore

HASH_BUFFER = 4 * 1024 * 1024
CHUNK_LEAVES = 8192


@dataclass
class Problem:
    """One thing that does not hold, said precisely enough to act on."""

    kind: str
    subject: str
    message: str
    expected: str | None = None
    found: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def __str__(self) -> str:
        text = f"[{self.kind}] {self.subject}: {self.message}"
        if self.expected is not None or self.found is not None:
            text += f" (expected {self.expected}, found {self.found})"
        return text


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    blobs_checked: int = 0
    bytes_hashed: int = 0
    entries_checked: int = 0
    nodes_checked: int = 0
    checkpoints_checked: int = 0
    tree_size: int = 0
    root: str | None = None
    key_fingerprint: str | None = None
    mirror_url: str | None = None
    mirror_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
            "notes": self.notes,
            "blobs_checked": self.blobs_checked,
            "bytes_hashed": self.bytes_hashed,
            "entries_checked": self.entries_checked,
            "nodes_checked": self.nodes_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "tree_size": self.tree_size,
            "root": self.root,
            "key_fingerprint": self.key_fingerprint,
            "mirror": (
                {"url": self.mirror_url, "blobs_checked": self.mirror_checked}
                if self.mirror_url
                else None
            ),
        }


@dataclass
class _EvidenceEntry:
    entry_type: str
    actor: str
    subjects: list[str]
    params: dict[str, Any]


def hash_stream(
    read: Callable[[int], bytes], progress: Callable[[int], None] | None
) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    while True:
        chunk = read(HASH_BUFFER)
        if not chunk:
            break
        hasher.update(chunk)
        size += len(chunk)
        if progress:
            progress(len(chunk))
    return hasher.hexdigest(), size


def verify_vault(
    vault: Vault,
    *,
    pin: str | None = None,
    check_blobs: bool = True,
    progress: Callable[[int], None] | None = None,
    on_blob_total: Callable[[int], None] | None = None,
) -> VerifyReport:
    report = VerifyReport()
    verifiers = _trusted_verifiers(vault, pin, report)
    with vault.reading() as session:
        evidence_entries = _verify_ledger(session, verifiers, vault.origin, report)
        _verify_evidence_rows(session, evidence_entries, report)
        if check_blobs:
            _verify_blobs(vault, session, report, progress, on_blob_total)
    return report


def _trusted_verifiers(vault: Vault, pin: str | None, report: VerifyReport) -> list[Verifier]:
    try:
        key = vault.signing_key()
    except TestigoError as exc:
        report.problems.append(Problem("key", "ledger key", str(exc)))
        return []
    verifier = key.verifier()
    report.key_fingerprint = verifier.public_key_fingerprint()
    if pin is not None and pin.lower() != report.key_fingerprint:
        report.problems.append(
            Problem(
                "key",
                "ledger key",
                "the vault's signing key is not the pinned key",
                expected=pin.lower(),
                found=report.key_fingerprint,
            )
        )
        return []
    return [verifier]


def _iter_entries(session: Session) -> Iterator[LedgerEntry]:
    yield from session.scalars(
        select(LedgerEntry).order_by(LedgerEntry.seq).execution_options(yield_per=CHUNK_LEAVES)
    )


def _verify_ledger(
    session: Session, verifiers: list[Verifier], origin: str, report: VerifyReport
) -> dict[int, _EvidenceEntry]:
    checkpoint_rows = list(session.scalars(select(CheckpointRow).order_by(CheckpointRow.id)))
    wanted_sizes = {row.tree_size for row in checkpoint_rows}
    roots: dict[int, bytes] = {}
    if 0 in wanted_sizes:
        roots[0] = merkle.EMPTY_ROOT
    frontier = merkle.Frontier()
    evidence: dict[int, _EvidenceEntry] = {}
    pending_nodes: list[merkle.StoredNode] = []
    for expected_seq, row in enumerate(_iter_entries(session)):
        if row.seq != expected_seq:
            report.problems.append(
                Problem(
                    "ledger",
                    f"entry {expected_seq}",
                    "ledger entries are missing: the sequence has a gap",
                    expected=str(expected_seq),
                    found=str(row.seq),
                )
            )
            break
        body = bytes(row.body)
        leaf = merkle.leaf_hash(body)
        if bytes(row.leaf_hash) != leaf:
            report.problems.append(
                Problem(
                    "ledger",
                    f"entry {row.seq}",
                    "the stored leaf hash does not match the entry's bytes: the entry was edited",
                    expected=leaf.hex(),
                    found=bytes(row.leaf_hash).hex(),
                )
            )
        data = _check_body(row, body, report)
        if data is not None and str(data.get("type", "")).startswith("evidence."):
            evidence[row.seq] = _EvidenceEntry(
                entry_type=str(data["type"]),
                actor=str(data.get("actor")),
                subjects=list(data.get("subjects", [])),
                params=dict(data.get("params", {})),
            )
        pending_nodes.extend(frontier.append(leaf))
        if frontier.size in wanted_sizes:
            roots[frontier.size] = frontier.root()
        if len(pending_nodes) >= 2 * CHUNK_LEAVES:
            _compare_nodes(session, pending_nodes, report)
            pending_nodes = []
        report.entries_checked += 1
    _compare_nodes(session, pending_nodes, report)
    report.tree_size = frontier.size
    report.root = frontier.root().hex()
    stored_nodes = session.scalar(select(func.count()).select_from(LedgerNode)) or 0
    expected_nodes = 2 * frontier.size - bin(frontier.size).count("1")
    if stored_nodes != expected_nodes:
        report.problems.append(
            Problem(
                "ledger",
                "tree nodes",
                "the number of stored tree nodes does not fit the number of entries",
                expected=str(expected_nodes),
                found=str(stored_nodes),
            )
        )
    _verify_checkpoints(session, checkpoint_rows, roots, verifiers, origin, frontier.size, report)
    return evidence


def _check_body(row: LedgerEntry, body: bytes, report: VerifyReport) -> dict[str, Any] | None:
    subject = f"entry {row.seq}"
    try:
        data = parse_json(body)
        canonical = canonical_json(data)
    except (ValueError, TypeError):
        report.problems.append(Problem("ledger", subject, "the entry is not valid JSON"))
        return None
    if not isinstance(data, dict):
        report.problems.append(Problem("ledger", subject, "the entry is not a JSON object"))
        return None
    if canonical != body:
        report.problems.append(Problem("ledger", subject, "the entry is not in canonical form"))
    for key, column in (
        ("seq", row.seq),
        ("type", row.entry_type),
        ("actor", row.actor),
        ("time", row.created_at),
    ):
        if data.get(key) != column:
            report.problems.append(
                Problem(
                    "ledger",
                    subject,
                    f"the row's {key} differs from the signed entry",
                    expected=str(data.get(key)),
                    found=str(column),
                )
            )
    return data


def _compare_nodes(session: Session, nodes: list[merkle.StoredNode], report: VerifyReport) -> None:
    by_level: dict[int, list[merkle.StoredNode]] = {}
    for node in nodes:
        by_level.setdefault(node[0], []).append(node)
    for level, items in by_level.items():
        low = min(i for _, i, _ in items)
        high = max(i for _, i, _ in items)
        stored = {
            idx: bytes(digest)
            for idx, digest in session.execute(
                select(LedgerNode.idx, LedgerNode.hash).where(
                    LedgerNode.level == level, LedgerNode.idx.between(low, high)
                )
            )
        }
        for _, idx, digest in items:
            found = stored.get(idx)
            report.nodes_checked += 1
            if found != digest:
                report.problems.append(
                    Problem(
                        "ledger",
                        f"tree node level {level} index {idx}",
                        "the stored tree node does not match the entries"
                        if found is not None
                        else "a tree node is missing",
                        expected=digest.hex(),
                        found=found.hex() if found is not None else "nothing",
                    )
                )


def _verify_checkpoints(
    session: Session,
    rows: list[CheckpointRow],
    roots: dict[int, bytes],
    verifiers: list[Verifier],
    origin: str,
    tree_size: int,
    report: VerifyReport,
) -> None:
    previous: tuple[int, bytes] | None = None
    for row in sorted(rows, key=lambda r: (r.tree_size, r.id)):
        subject = f"checkpoint {row.id} (size {row.tree_size})"
        report.checkpoints_checked += 1
        if not verifiers:
            report.problems.append(Problem("checkpoint", subject, "no trusted key to check it"))
            continue
        try:
            cp = verify_checkpoint(row.note, verifiers)
        except TestigoError as exc:
            report.problems.append(Problem("checkpoint", subject, f"signature check failed: {exc}"))
            continue
        if cp.origin != origin:
            report.problems.append(
                Problem(
                    "checkpoint",
                    subject,
                    "signed for another log",
                    expected=origin,
                    found=cp.origin,
                )
            )
        if cp.size != row.tree_size or cp.root != bytes(row.root_hash):
            report.problems.append(
                Problem("checkpoint", subject, "the row does not match its signed note")
            )
        if cp.size > tree_size:
            report.problems.append(
                Problem(
                    "checkpoint",
                    subject,
                    "it commits to more entries than the ledger holds: entries were removed",
                    expected=f"at most {tree_size}",
                    found=str(cp.size),
                )
            )
            continue
        actual = roots.get(cp.size)
        if actual is not None and actual != cp.root:
            report.problems.append(
                Problem(
                    "checkpoint",
                    subject,
                    "the signed root differs from the root rebuilt from the entries",
                    expected=actual.hex(),
                    found=cp.root.hex(),
                )
            )
        if previous is not None and previous[0] < cp.size:
            old_size, old_root = previous
            try:
                proof = merkle.consistency_proof(old_size, cp.size, node_reader(session))
                consistent = merkle.verify_consistency(old_size, cp.size, old_root, cp.root, proof)
            except TestigoError:
                consistent = False
            if not consistent:
                report.problems.append(
                    Problem(
                        "checkpoint",
                        subject,
                        f"not consistent with the checkpoint at size {old_size}: "
                        "the log was rewritten between them",
                    )
                )
        previous = (cp.size, cp.root)


def _verify_evidence_rows(
    session: Session, entries: dict[int, _EvidenceEntry], report: VerifyReport
) -> None:
    ingested = {
        s.removeprefix("sha256:"): seq
        for seq, e in entries.items()
        if e.entry_type == "evidence.ingest" or e.entry_type == "evidence.derive"
        for s in e.subjects
        if s.startswith("sha256:")
        and (e.entry_type != "evidence.derive" or s == f"sha256:{e.params.get('sha256')}")
    }
    seen: set[str] = set()
    items: dict[int, EvidenceItem] = {}
    for item in session.scalars(select(EvidenceItem).execution_options(yield_per=5000)):
        items[item.id] = item
        seen.add(item.sha256)
        subject = f"item {item.id} (sha256 {item.sha256[:16]}…)"
        entry = entries.get(item.ledger_seq)
        if entry is None or f"sha256:{item.sha256}" not in entry.subjects:
            report.problems.append(
                Problem("evidence", subject, "no ledger entry records this item")
            )
            continue
        recorded: tuple[tuple[str, object], ...] = (
            ("size", item.size),
            ("media_type", item.media_type),
        )
        for key, value in recorded:
            if entry.params.get(key) != value:
                report.problems.append(
                    Problem(
                        "evidence",
                        subject,
                        f"the item's {key} differs from its ledger entry {item.ledger_seq}",
                        expected=str(entry.params.get(key)),
                        found=str(value),
                    )
                )
    for digest, seq in ingested.items():
        if digest not in seen:
            report.problems.append(
                Problem(
                    "evidence",
                    f"sha256 {digest[:16]}…",
                    f"ledger entry {seq} records an item that is no longer in the database",
                )
            )
    for acq in session.scalars(select(Acquisition).execution_options(yield_per=5000)):
        subject = f"acquisition {acq.id}"
        entry = entries.get(acq.ledger_seq)
        owner = items.get(acq.item_id)
        if entry is None or owner is None or f"sha256:{owner.sha256}" not in entry.subjects:
            report.problems.append(Problem("evidence", subject, "no ledger entry records it"))
            continue
        checks: tuple[tuple[str, object], ...] = (
            ("original_name", acq.original_name),
            ("acquired_from", acq.acquired_from),
            ("note", acq.note),
            ("method", acq.method),
            ("incident", acq.incident_id),
        )
        for key, expected_value in checks:
            if entry.params.get(key) != expected_value:
                report.problems.append(
                    Problem(
                        "evidence",
                        subject,
                        f"the {key} differs from ledger entry {acq.ledger_seq}",
                        expected=str(entry.params.get(key)),
                        found=str(expected_value),
                    )
                )
        if entry.actor != acq.acquired_by:
            report.problems.append(
                Problem(
                    "evidence",
                    subject,
                    "who acquired it differs from the ledger",
                    expected=entry.actor,
                    found=acq.acquired_by,
                )
            )


def _verify_blobs(
    vault: Vault,
    session: Session,
    report: VerifyReport,
    progress: Callable[[int], None] | None,
    on_total: Callable[[int], None] | None,
) -> None:
    items = list(session.execute(select(EvidenceItem.id, EvidenceItem.sha256, EvidenceItem.size)))
    if on_total:
        on_total(sum(size for _, _, size in items))

    from testigo.vault.mirror import MirroredBlobStore

    mirrored = vault.blobs if isinstance(vault.blobs, MirroredBlobStore) else None
    # With a mirror, the primary is checked on its own: reading through the mirrored store would
    # fall back to the mirror and hide a primary copy that is gone.
    primary = mirrored.primary if mirrored is not None else vault.blobs

    def check(row: tuple[int, str, int]) -> tuple[int, str, int, str | None, int | None]:
        item_id, digest, size = row
        try:
            handle = primary.open(digest)
        except KeyError:
            return item_id, digest, size, None, None
        with handle:
            found, found_size = hash_stream(handle.read, progress)
        return item_id, digest, size, found, found_size

    with ThreadPoolExecutor(max_workers=2) as pool:
        for item_id, digest, size, found, found_size in pool.map(check, items):
            subject = f"item {item_id} (sha256 {digest[:16]}…)"
            report.blobs_checked += 1
            if found is None:
                report.problems.append(
                    Problem(
                        "blob",
                        subject,
                        "the stored file is missing",
                        expected=digest,
                        found="nothing",
                    )
                )
                continue
            report.bytes_hashed += found_size or 0
            if found != digest or found_size != size:
                report.problems.append(
                    Problem(
                        "blob",
                        subject,
                        "the stored file was altered",
                        expected=f"{digest} ({size} bytes)",
                        found=f"{found} ({found_size} bytes)",
                    )
                )
    if mirrored is not None:
        _verify_mirror(mirrored, items, report)
    known = {digest for _, digest, _ in items}
    strays = [d for d in primary.iter_digests() if d not in known]
    if strays:
        report.notes.append(
            f"{len(strays)} stored file(s) are not referenced by any record (left by an "
            "interrupted ingest; a later ingest of the same content adopts them)"
        )


def _verify_mirror(
    store: MirroredBlobStore, items: Sequence[tuple[int, str, int]], report: VerifyReport
) -> None:
    """Re-hash every referenced blob in the mirror too, and name each one that differs."""
    from testigo.vault.mirror import UnreachableStore, check_copy

    report.mirror_url = store.mirror.url
    if isinstance(store.mirror, UnreachableStore):
        report.problems.append(
            Problem(
                "mirror",
                store.mirror.url,
                f"the mirror cannot be reached, so its copies were not checked: "
                f"{store.mirror.reason}",
            )
        )
        return

    def check(row: tuple[int, str, int]) -> tuple[int, str, int, str | None]:
        item_id, digest, size = row
        return item_id, digest, size, check_copy(store.mirror, digest, size)

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for item_id, digest, size, state in pool.map(check, items):
                report.mirror_checked += 1
                if state is None:
                    continue
                report.problems.append(
                    Problem(
                        "mirror",
                        f"item {item_id} (sha256 {digest[:16]}…)",
                        f"the mirror's copy is {state} (run `testigo blobs sync-mirror`)",
                        expected=f"{digest} ({size} bytes) in {store.mirror.url}",
                        found="nothing" if state == "missing" else "different bytes",
                    )
                )
    except Exception as exc:  # the mirror itself cannot be reached
        report.problems.append(
            Problem(
                "mirror",
                store.mirror.url,
                f"the mirror cannot be read, so its copies were not checked: {exc}",
            )
        )
