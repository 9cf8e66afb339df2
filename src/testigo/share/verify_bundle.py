"""Checking a bundle with nothing but the bundle (and, optionally, a pinned key fingerprint).

Each check is reported in plain words, holds or not; a hostile bundle (paths leaving the bag,
symbolic links, compression bombs, enormous manifests) is refused with a clear message before any
of its content is trusted.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testigo.errors import RefusedInputError, TestigoError
from testigo.share.bagit import (
    BAGIT_TXT,
    BagReader,
    open_bag,
    parse_bag_info,
    parse_manifest,
)
from testigo.vault import merkle
from testigo.vault.canonical import canonical_json, parse_json
from testigo.vault.checkpoint import Checkpoint, verify_checkpoint
from testigo.vault.keys import Verifier

MAX_LEDGER_FILE = 256 * 1024 * 1024


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class BundleReport:
    path: str
    checks: list[Check] = field(default_factory=list)
    key_fingerprint: str | None = None
    incident: str | None = None
    public: bool | None = None
    timestamps: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "incident": self.incident,
            "public": self.public,
            "key_fingerprint": self.key_fingerprint,
            "timestamps": self.timestamps,
            "checks": [c.to_dict() for c in self.checks],
        }


def verify_bundle(
    path: Path, *, pin: str | None = None, tsa_roots: Path | None = None
) -> BundleReport:
    report = BundleReport(path=str(path))
    try:
        bag = open_bag(path)
    except RefusedInputError as exc:
        report.add("bundle can be read safely", False, str(exc))
        return report
    try:
        _verify(bag, report, pin, tsa_roots)
    except RefusedInputError as exc:
        report.add("bundle can be read safely", False, str(exc))
    finally:
        bag.close()
    return report


def _verify(bag: BagReader, report: BundleReport, pin: str | None, tsa_roots: Path | None) -> None:
    files = {f.path: f.size for f in bag.files()}
    if files.get("bagit.txt") is None:
        report.add("BagIt declaration", False, "bagit.txt is missing: this is not a bundle")
        return
    declaration = bag.read_small("bagit.txt", 4096).decode("utf-8", errors="replace")
    report.add(
        "BagIt declaration",
        declaration.replace("\r\n", "\n") == BAGIT_TXT,
        "BagIt 1.0, UTF-8"
        if declaration.replace("\r\n", "\n") == BAGIT_TXT
        else "bagit.txt is not a BagIt 1.0 declaration",
    )
    if "manifest-sha256.txt" not in files:
        report.add("payload manifest", False, "manifest-sha256.txt is missing")
        return
    manifest = parse_manifest(bag.read_small("manifest-sha256.txt"), "manifest-sha256.txt")
    tags = (
        parse_manifest(bag.read_small("tagmanifest-sha256.txt"), "tagmanifest-sha256.txt")
        if "tagmanifest-sha256.txt" in files
        else {}
    )
    _check_hashes(bag, files, manifest, tags, report)
    info = (
        parse_bag_info(bag.read_small("bag-info.txt", 1024 * 1024))
        if "bag-info.txt" in files
        else {}
    )
    identifiers = info.get("External-Identifier") or []
    report.incident = identifiers[0] if identifiers else None
    public = (info.get("Testigo-Public") or [""])[0]
    report.public = public == "yes" if public else None
    oxum = (info.get("Payload-Oxum") or [""])[0]
    if oxum:
        total = sum(size for name, size in files.items() if name.startswith("data/"))
        count = sum(1 for name in files if name.startswith("data/"))
        report.add(
            "payload size (Payload-Oxum)",
            oxum == f"{total}.{count}",
            f"{count} files, {total:,} bytes"
            if oxum == f"{total}.{count}"
            else f"declared {oxum}, found {total}.{count}",
        )
    _check_ledger(bag, files, manifest, report, pin, tsa_roots)


def _check_hashes(
    bag: BagReader,
    files: dict[str, int],
    manifest: dict[str, str],
    tags: dict[str, str],
    report: BundleReport,
) -> None:
    from testigo.share.bagit import hash_stream

    altered: list[str] = []
    listed = {**manifest, **tags}
    present = [name for name in listed if name in files]
    missing = [name for name in listed if name not in files]

    def digest(name: str) -> str:
        with bag.open(name) as stream:
            return hash_stream(stream, limit=files[name])[0]

    # Two files at a time: SHA-256 (and inflating a zip member) release the GIL, so a bundle of
    # several large files is checked at the speed of both cores, as `testigo verify` does.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, found in zip(present, pool.map(digest, present), strict=True):
            expected = listed[name]
            if found != expected:
                altered.append(f"{name} (expected {expected[:16]}…, found {found[:16]}…)")
    payload = {name for name in files if name.startswith("data/")}
    unlisted = sorted(payload - set(manifest))
    report.add(
        "every file matches its hash",
        not altered,
        f"{len(manifest)} payload and {len(tags)} tag files re-hashed"
        if not altered
        else "altered: " + "; ".join(altered[:20]),
    )
    report.add(
        "no file is missing",
        not missing,
        "all listed files are present" if not missing else "missing: " + ", ".join(missing[:20]),
    )
    report.add(
        "no file was added",
        not unlisted,
        "every payload file is listed"
        if not unlisted
        else "not in the manifest: " + ", ".join(unlisted[:20]),
    )


def _load_json(bag: BagReader, name: str) -> Any:
    try:
        return json.loads(bag.read_small(name, MAX_LEDGER_FILE))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RefusedInputError(f"{name} is not valid JSON") from exc


def _check_ledger(
    bag: BagReader,
    files: dict[str, int],
    manifest: dict[str, str],
    report: BundleReport,
    pin: str | None,
    tsa_roots: Path | None,
) -> None:
    base = "data/ledger/"
    needed = [
        base + n for n in ("entries.jsonl", "proofs.json", "consistency.json", "verifier.vkey")
    ]
    absent = [n for n in needed if n not in files]
    if absent:
        report.add("ledger proofs present", False, "missing: " + ", ".join(absent))
        return
    try:
        verifier = Verifier.from_vkey(bag.read_small(base + "verifier.vkey", 4096).decode().strip())
    except (TestigoError, ValueError, UnicodeDecodeError) as exc:
        report.add("log key", False, f"the verifier key is unreadable: {exc}")
        return
    fingerprint = verifier.public_key_fingerprint()
    report.key_fingerprint = fingerprint
    if pin is not None:
        report.add(
            "log key is the pinned key",
            pin.lower() == fingerprint,
            f"fingerprint {fingerprint}"
            if pin.lower() == fingerprint
            else f"pinned {pin.lower()}, bundle has {fingerprint}",
        )
    checkpoints: dict[int, tuple[Checkpoint, str]] = {}
    bad_notes: list[str] = []
    for name in sorted(
        n for n in files if n.startswith(base + "checkpoints/") and n.endswith(".note")
    ):
        note = bag.read_small(name, 1024 * 1024).decode("utf-8", errors="replace")
        try:
            cp = verify_checkpoint(note, [verifier])
        except TestigoError as exc:
            bad_notes.append(f"{name}: {exc}")
            continue
        checkpoints[cp.size] = (cp, note)
    report.add(
        "checkpoints are signed by the log key",
        bool(checkpoints) and not bad_notes,
        f"{len(checkpoints)} checkpoint(s) signed by {verifier.name}"
        if not bad_notes and checkpoints
        else "; ".join(bad_notes) or "no checkpoint in the bundle",
    )
    if not checkpoints:
        return
    proofs = _load_json(bag, base + "proofs.json")
    final_size = int(proofs.get("checkpoint_size", -1)) if isinstance(proofs, dict) else -1
    if final_size not in checkpoints:
        report.add(
            "inclusion proofs", False, "the proofs refer to a checkpoint the bundle does not hold"
        )
        return
    final_cp = checkpoints[final_size][0]
    inclusion = proofs.get("inclusion", {})
    entries: dict[int, dict[str, Any]] = {}
    failures: list[str] = []
    raw_lines = bag.read_small(base + "entries.jsonl", MAX_LEDGER_FILE).decode(
        "utf-8", errors="replace"
    )
    for number, line in enumerate(raw_lines.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            seq = int(record["seq"])
            body = base64.b64decode(record["body_b64"], validate=True)
            data = parse_json(body)
            canonical_ok = canonical_json(data) == body
            proof = [bytes.fromhex(h) for h in inclusion[str(seq)]]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            failures.append(f"entries.jsonl line {number} is malformed ({exc.__class__.__name__})")
            continue
        leaf = merkle.leaf_hash(body)
        if not canonical_ok or data.get("seq") != seq:
            failures.append(f"entry {seq} is not a canonical entry for its position")
        elif not merkle.verify_inclusion(seq, final_cp.size, leaf, proof, final_cp.root):
            failures.append(f"entry {seq} is not proven in the checkpoint of size {final_cp.size}")
        else:
            entries[seq] = data
    report.add(
        "every log entry is proven in the signed log",
        not failures and bool(entries),
        f"{len(entries)} entries proven against the checkpoint of size {final_cp.size}"
        if not failures
        else "; ".join(failures[:20]),
    )
    consistency = _load_json(bag, base + "consistency.json")
    bad_links: list[str] = []
    sizes = sorted(checkpoints)
    links = {
        (int(c["old_size"]), int(c["new_size"])): c["proof"]
        for c in consistency
        if isinstance(c, dict)
    }
    for old, new in itertools.pairwise(sizes):
        proof_hex = links.get((old, new))
        try:
            proof_bytes = [bytes.fromhex(h) for h in proof_hex] if proof_hex is not None else None
        except (ValueError, TypeError):
            proof_bytes = None
        if proof_bytes is None or not merkle.verify_consistency(
            old, new, checkpoints[old][0].root, checkpoints[new][0].root, proof_bytes
        ):
            bad_links.append(f"{old} → {new}")
    report.add(
        "checkpoints are consistent (the log only grew)",
        not bad_links,
        f"{len(sizes) - 1} consistency proof(s) hold"
        if not bad_links
        else "not proven: " + ", ".join(bad_links),
    )
    _check_export_entry(entries, manifest, report)
    _check_evidence(entries, manifest, report)
    _check_timestamps(bag, files, checkpoints, report, tsa_roots)


def _check_export_entry(
    entries: dict[int, dict[str, Any]], manifest: dict[str, str], report: BundleReport
) -> None:
    exports = [e for e in entries.values() if e.get("type") == "bundle.export"]
    if not exports:
        report.add("the log lists the bundle's files", False, "no export entry in the bundle")
        return
    listed: dict[str, str] = exports[-1].get("params", {}).get("files", {})
    wrong = [name for name, digest in listed.items() if manifest.get(name) != digest]
    report.add(
        "the log lists the bundle's files",
        not wrong,
        f"{len(listed)} files recorded in entry {exports[-1].get('seq')}"
        if not wrong
        else "differ from the log: " + ", ".join(wrong[:20]),
    )


def _check_evidence(
    entries: dict[int, dict[str, Any]], manifest: dict[str, str], report: BundleReport
) -> None:
    recorded: dict[str, int] = {}
    for entry in entries.values():
        if entry.get("type") in ("evidence.ingest", "evidence.derive"):
            params = entry.get("params", {})
            digest = params.get("sha256") if entry.get("type") == "evidence.derive" else None
            for subject in entry.get("subjects", []):
                if (
                    isinstance(subject, str)
                    and subject.startswith("sha256:")
                    and (digest is None or subject == f"sha256:{digest}")
                ):
                    recorded[subject.removeprefix("sha256:")] = int(params.get("size", -1))
    unrecorded = [
        name
        for name, digest in manifest.items()
        if name.startswith("data/evidence/") and digest not in recorded
    ]
    report.add(
        "every evidence file was recorded in the log",
        not unrecorded,
        f"{sum(1 for n in manifest if n.startswith('data/evidence/'))} evidence file(s) recorded"
        if not unrecorded
        else "never recorded: " + ", ".join(unrecorded[:20]),
    )


def _check_timestamps(
    bag: BagReader,
    files: dict[str, int],
    checkpoints: dict[int, tuple[Checkpoint, str]],
    report: BundleReport,
    tsa_roots: Path | None,
) -> None:
    tokens = sorted(
        n for n in files if n.startswith("data/ledger/timestamps/") and n.endswith(".tsr")
    )
    if not tokens:
        return
    from cryptography import x509

    from testigo.share.timestamps import verify_timestamp

    roots_source = "given by you"
    if tsa_roots is not None:
        pem = tsa_roots.read_bytes()
    elif "data/ledger/timestamps/tsa-roots.pem" in files:
        pem = bag.read_small("data/ledger/timestamps/tsa-roots.pem", 1024 * 1024)
        roots_source = "shipped inside the bundle (not independently trusted)"
    else:
        report.add(
            "timestamps",
            False,
            "timestamps are present but no TSA root certificate was given (--tsa-root)",
        )
        return
    try:
        roots = x509.load_pem_x509_certificates(pem)
    except ValueError:
        report.add("timestamps", False, "the TSA root certificate file is not PEM")
        return
    failures: list[str] = []
    for name in tokens:
        size_text = name.rsplit("/", 1)[-1].split("-", 1)[0]
        try:
            size = int(size_text)
            note = checkpoints[size][1]
        except (ValueError, KeyError):
            failures.append(f"{name} refers to no checkpoint in the bundle")
            continue
        try:
            result = verify_timestamp(
                bag.read_small(name, 1024 * 1024), note.encode("utf-8"), roots=roots
            )
        except TestigoError as exc:
            failures.append(f"{name}: {exc}")
            continue
        report.timestamps.append(
            {
                "checkpoint_size": str(size),
                "time": str(result.gen_time),
                "tsa": str(result.tsa_subject),
            }
        )
    report.add(
        "timestamps match their checkpoints",
        not failures,
        f"{len(tokens)} timestamp(s) valid under TSA roots {roots_source}"
        if not failures
        else "; ".join(failures[:10]),
    )
