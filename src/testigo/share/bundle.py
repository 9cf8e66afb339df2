"""Court-ready bundles: an incident's evidence, record and ledger proofs in one BagIt package.

The bundle is built in a temporary folder beside the destination and renamed into place only
when complete, so a failed export leaves nothing that looks like a bundle. Every file it holds is
listed in a `bundle.export` ledger entry, signed into a checkpoint, and proven by inclusion and
consistency proofs stored in the bundle, so the bundle can be checked with nothing but itself.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from testigo import __version__
from testigo.db.models import (
    Acquisition,
    EvidenceItem,
    Incident,
    IncidentItem,
    ItemParent,
    LedgerEntry,
    LedgerSubject,
)
from testigo.db.models import Checkpoint as CheckpointRow
from testigo.errors import IntegrityError, NotFoundError, UsageError
from testigo.share.bagit import BAGIT_TXT, HASH_CHUNK, write_manifest
from testigo.vault import ledger
from testigo.vault.service import Vault

EXTENSIONS = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/vtt": ".vtt",
    "application/json": ".json",
}

VERIFY_TEXT = """\
HOW TO CHECK THIS BUNDLE
========================

This folder is an evidence bundle made by Testigo. You can check that nothing in it was changed
since it was made, and that every file was recorded in a tamper-evident log, without trusting
whoever gave it to you.

1. With Testigo installed (pip install testigo), run:

       testigo verify PATH-TO-THIS-BUNDLE

   Add --pin {fingerprint} to require that the log was signed with the key whose
   fingerprint you obtained separately (for example from the organisation that made it).

2. What the check does, in plain words:
   - Every file is hashed again and compared with the list (manifest-sha256.txt).
   - Every log entry in data/ledger/entries.jsonl is checked against the signed checkpoint with
     its inclusion proof: the entry was in the log when the checkpoint was signed.
   - The checkpoints are checked for the log's signature and for consistency with each other:
     the log only grew, nothing was rewritten.
   - If timestamps are present (data/ledger/timestamps/), each is checked against its checkpoint:
     an independent authority saw the checkpoint no later than the time it states.
   - The export entry in the log lists every file of the bundle with its hash.

3. Without Testigo: the manifest can be checked with any SHA-256 tool (sha256sum -c on Linux,
   after changing to this folder), and the log format is described in the project's
   documentation (RFC 9162 Merkle trees, C2SP signed notes, RFC 3161 timestamps).

Log: {origin}
Key fingerprint (SHA-256 of the public key): {fingerprint}
Made: {made} by {actor}
"""


@dataclass
class ExportResult:
    path: Path
    incident_id: int
    public: bool
    files: dict[str, str] = field(default_factory=dict)
    total_bytes: int = 0
    entries: int = 0
    checkpoint_size: int = 0
    timestamps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "incident_id": self.incident_id,
            "public": self.public,
            "files": len(self.files),
            "bytes": self.total_bytes,
            "ledger_entries": self.entries,
            "checkpoint_size": self.checkpoint_size,
            "timestamps": self.timestamps,
        }


RecordBuilder = Callable[[Vault, int, bool], dict[str, Any]]


def default_record(vault: Vault, incident_id: int, public: bool) -> dict[str, Any]:
    """The incident record: everything, each fact with its citation; or, for a public bundle,
    only public fields, with the names of people who are not public withheld."""
    with vault.reading() as session:
        if session.get(Incident, incident_id) is None:
            raise NotFoundError(f"there is no incident {incident_id}")
    if public:
        from testigo.share.public import public_record

        return public_record(vault, incident_id)
    from testigo.records.record import incident_record

    return incident_record(vault, incident_id)


def _transcripts(vault: Vault, items: list[EvidenceItem]) -> dict[str, Any]:
    """Current transcripts (corrections applied) of the bundle's recordings, by item hash."""
    from testigo.jobs.transcripts import current_transcript

    found: dict[str, Any] = {}
    for item in items:
        if not item.media_type.startswith(("video/", "audio/")):
            continue
        lines = current_transcript(vault, item.id)
        if lines:
            found[item.sha256] = [line.to_dict() for line in lines]
    return found


def _copy_hashed(vault: Vault, sha256: str, dest: Path) -> int:
    """Copy a blob out, checking on the way that the store still holds what was recorded."""
    hasher = hashlib.sha256()
    size = 0
    with vault.blobs.open(sha256) as src, dest.open("wb") as out:
        while True:
            chunk = src.read(HASH_CHUNK)
            if not chunk:
                break
            hasher.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if hasher.hexdigest() != sha256:
        raise IntegrityError(
            f"the stored file {sha256} no longer matches its hash: run `testigo verify` "
            "before exporting"
        )
    return size


def _hash_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as src:
        for chunk in iter(lambda: src.read(HASH_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )


def _items_for(vault: Vault, incident_id: int, public: bool) -> list[EvidenceItem]:
    with vault.reading() as session:
        if session.get(Incident, incident_id) is None:
            raise NotFoundError(f"there is no incident {incident_id}")
        items = list(
            session.scalars(
                select(EvidenceItem)
                .join(IncidentItem, IncidentItem.item_id == EvidenceItem.id)
                .where(IncidentItem.incident_id == incident_id)
                .order_by(EvidenceItem.id)
            )
        )
    if public:
        items = [
            i for i in items if i.kind != "original" and i.details.get("derivation") == "redact"
        ]
    return items


def _custody(vault: Vault, items: list[EvidenceItem], public: bool) -> list[dict[str, Any]]:
    ids = [i.id for i in items]
    with vault.reading() as session:
        acquisitions = list(
            session.scalars(
                select(Acquisition).where(Acquisition.item_id.in_(ids)).order_by(Acquisition.id)
            )
        )
        parents = list(
            session.execute(select(ItemParent).where(ItemParent.item_id.in_(ids))).scalars()
        )
        parent_hashes = {
            p.id: p.sha256
            for p in session.scalars(
                select(EvidenceItem).where(EvidenceItem.id.in_([p.parent_id for p in parents]))
            )
        }
    by_item: dict[int, list[dict[str, Any]]] = {}
    for acq in acquisitions:
        record: dict[str, Any] = {
            "acquired_at": acq.acquired_at,
            "method": acq.method,
            "ledger_seq": acq.ledger_seq,
        }
        if not public:
            record.update(
                {
                    "acquired_by": acq.acquired_by,
                    "acquired_from": acq.acquired_from,
                    "original_name": acq.original_name,
                    "note": acq.note,
                    "file_modified_at": acq.file_modified_at,
                }
            )
        by_item.setdefault(acq.item_id, []).append(record)
    parents_of: dict[int, list[dict[str, str]]] = {}
    for p in parents:
        parents_of.setdefault(p.item_id, []).append(
            {"sha256": parent_hashes.get(p.parent_id, ""), "relation": p.relation}
        )
    return [
        {
            "sha256": i.sha256,
            "size": i.size,
            "media_type": i.media_type,
            "kind": i.kind,
            "recorded_in_entry": i.ledger_seq,
            "derived_from": parents_of.get(i.id, []),
            "acquisitions": by_item.get(i.id, []),
            "file": f"data/evidence/{i.sha256}{EXTENSIONS.get(i.media_type, '')}",
        }
        for i in items
    ]


def _entry_seqs(vault: Vault, subjects: list[str]) -> list[int]:
    with vault.reading() as session:
        return sorted(
            set(
                session.scalars(
                    select(LedgerSubject.seq).where(LedgerSubject.subject.in_(subjects))
                )
            )
        )


def export_incident(
    vault: Vault,
    incident_id: int,
    out: Path,
    *,
    public: bool,
    actor: str,
    record_builder: RecordBuilder = default_record,
    report: bool = True,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write a verifiable bundle for one incident to ``out`` (a folder, or a ``.zip`` file)."""
    out = out.expanduser().absolute()
    if out.exists():
        raise UsageError(f"{out} already exists: choose a new name, bundles are never overwritten")
    if not out.parent.is_dir():
        raise UsageError(f"the folder {out.parent} does not exist")
    as_zip = out.suffix.lower() == ".zip"
    work = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    bag = work / out.stem if as_zip else work
    try:
        result = _build(
            vault,
            incident_id,
            bag,
            public=public,
            actor=actor,
            builder=record_builder,
            report=report,
            progress=progress,
        )
        if as_zip:
            _zip_folder(bag, work / "bundle.zip")
            os.replace(work / "bundle.zip", out)
            shutil.rmtree(work)
        else:
            os.replace(work, out)
        result.path = out
        return result
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _build(
    vault: Vault,
    incident_id: int,
    bag: Path,
    *,
    public: bool,
    actor: str,
    builder: RecordBuilder,
    report: bool,
    progress: Callable[[str], None] | None,
) -> ExportResult:
    say = progress or (lambda _msg: None)
    data = bag / "data"
    (data / "evidence").mkdir(parents=True)
    result = ExportResult(path=bag, incident_id=incident_id, public=public)
    items = _items_for(vault, incident_id, public)
    payload: dict[str, str] = {}
    for item in items:
        rel = f"data/evidence/{item.sha256}{EXTENSIONS.get(item.media_type, '')}"
        say(f"copying {rel}")
        result.total_bytes += _copy_hashed(vault, item.sha256, bag / rel)
        payload[rel] = item.sha256
    record = builder(vault, incident_id, public)
    _write_json(data / "record" / "incident.json", record)
    _write_json(data / "record" / "custody.json", _custody(vault, items, public))
    if not public:  # transcripts may name people; public bundles leave them out
        transcripts = _transcripts(vault, items)
        if transcripts:
            _write_json(data / "record" / "transcripts.json", transcripts)
    if report:
        from testigo.share.report import write_report

        say("writing the report")
        write_report(
            vault, incident_id, data / "report.pdf", items=items, record=record, public=public
        )
    for rel in (
        "data/record/incident.json",
        "data/record/custody.json",
        "data/record/transcripts.json",
        "data/report.pdf",
    ):
        if (bag / rel).exists():
            payload[rel] = _hash_file(bag / rel)

    subjects = [f"sha256:{i.sha256}" for i in items]
    if not public:
        subjects.append(f"incident:{incident_id}")
    seqs = _entry_seqs(vault, subjects)
    with vault.transaction() as session:
        export_entry = ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="bundle.export",
                actor=actor,
                subjects=[f"incident:{incident_id}"],
                params={
                    "incident": incident_id,
                    "public": public,
                    "files": dict(sorted(payload.items())),
                    "software": f"testigo {__version__}",
                },
            ),
        )
    checkpoint = vault.checkpoint()
    seqs.append(export_entry.seq)
    say("writing ledger proofs")
    result.entries = len(seqs)
    result.checkpoint_size = checkpoint.tree_size
    result.timestamps = _write_ledger(vault, data / "ledger", seqs, checkpoint)
    key = vault.signing_key()
    made = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    (data / "VERIFY.txt").write_text(
        VERIFY_TEXT.format(
            origin=vault.origin, fingerprint=key.public_key_fingerprint(), made=made, actor=actor
        ),
        encoding="utf-8",
    )
    manifest: dict[str, str] = {}
    total = 0
    count = 0
    for path in sorted(data.rglob("*")):
        if path.is_file():
            rel = path.relative_to(bag).as_posix()
            manifest[rel] = payload.get(rel) or _hash_file(path)
            total += path.stat().st_size
            count += 1
    (bag / "bagit.txt").write_text(BAGIT_TXT, encoding="utf-8")
    info = {
        "Bag-Software-Agent": f"testigo {__version__}",
        "Bagging-Date": made[:10],
        "Payload-Oxum": f"{total}.{count}",
        "External-Identifier": f"incident:{incident_id}",
        "Testigo-Public": "yes" if public else "no",
        "Testigo-Log-Origin": vault.origin,
        "Testigo-Key-Fingerprint": key.public_key_fingerprint(),
        "Testigo-Export-Entry": str(export_entry.seq),
    }
    (bag / "bag-info.txt").write_text(
        "".join(f"{k}: {v}\n" for k, v in info.items()), encoding="utf-8"
    )
    write_manifest(bag / "manifest-sha256.txt", manifest)
    tags = {
        name: _hash_file(bag / name)
        for name in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")
    }
    write_manifest(bag / "tagmanifest-sha256.txt", tags)
    result.files = manifest
    return result


def _write_ledger(vault: Vault, folder: Path, seqs: list[int], final: CheckpointRow) -> int:
    from testigo.vault.timestamping import timestamps_for

    (folder / "checkpoints").mkdir(parents=True)
    with vault.reading() as session:
        rows = list(
            session.scalars(
                select(LedgerEntry).where(LedgerEntry.seq.in_(seqs)).order_by(LedgerEntry.seq)
            )
        )
        lines = [
            json.dumps(
                {
                    "seq": r.seq,
                    "leaf_hash": bytes(r.leaf_hash).hex(),
                    "body_b64": base64.b64encode(bytes(r.body)).decode(),
                },
                sort_keys=True,
            )
            for r in rows
        ]
        proofs = {
            str(r.seq): [h.hex() for h in ledger.prove_inclusion(session, r.seq, final.tree_size)]
            for r in rows
        }
        # The first checkpoint that covered each entry shows when it was committed at the latest.
        checkpoints = list(
            session.scalars(
                select(CheckpointRow).order_by(CheckpointRow.tree_size, CheckpointRow.id)
            )
        )
        chosen: dict[int, CheckpointRow] = {final.tree_size: final}
        for seq in seqs:
            first = next((c for c in checkpoints if c.tree_size > seq), None)
            if first is not None and first.tree_size not in chosen:
                chosen[first.tree_size] = first
        sizes = sorted(chosen)
        consistency = [
            {
                "old_size": old,
                "new_size": new,
                "proof": [h.hex() for h in ledger.prove_consistency(session, old, new)],
            }
            for old, new in itertools.pairwise(sizes)
        ]
    (folder / "entries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _write_json(folder / "proofs.json", {"checkpoint_size": final.tree_size, "inclusion": proofs})
    _write_json(folder / "consistency.json", consistency)
    for size in sizes:
        (folder / "checkpoints" / f"{size}.note").write_text(chosen[size].note, encoding="utf-8")
    (folder / "verifier.vkey").write_text(vault.signing_key().vkey + "\n", encoding="utf-8")
    tokens = timestamps_for(vault, [chosen[s].id for s in sizes])
    by_id = {chosen[s].id: s for s in sizes}
    if tokens:
        (folder / "timestamps").mkdir()
    for n, token in enumerate(tokens):
        size = by_id[token.checkpoint_id]
        (folder / "timestamps" / f"{size}-{n}.tsr").write_bytes(bytes(token.response))
    ca_file = os.environ.get("TESTIGO_TSA_CA_FILE", "").strip()
    if tokens and ca_file and Path(ca_file).is_file():
        shutil.copyfile(ca_file, folder / "timestamps" / "tsa-roots.pem")
    return len(tokens)


def _zip_folder(folder: Path, target: Path) -> None:
    stored = {".mp4", ".mov", ".webm", ".mkv", ".jpg", ".png", ".webp", ".mp3", ".ogg", ".pdf"}
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                arcname = f"{folder.name}/{path.relative_to(folder).as_posix()}"
                method = zipfile.ZIP_STORED if path.suffix in stored else zipfile.ZIP_DEFLATED
                archive.write(path, arcname, compress_type=method)
