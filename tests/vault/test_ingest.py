"""Ingest: streaming into the store, content addressing, refusals, and nothing half-written."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from testigo.db.models import Acquisition, EvidenceItem, IncidentItem, LedgerEntry
from testigo.errors import InsufficientSpaceError, NotFoundError
from testigo.records.incidents import create_incident
from testigo.vault.ingest import Acquired, Candidate, discover, ingest_file, ingest_paths
from testigo.vault.localstore import LocalBlobStore
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(40))


def _count(vault: Vault, model: type) -> int:
    with vault.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_ingest_stores_by_content_read_only(vault: Vault, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + data)
    report = ingest_paths(vault, [src], Acquired(actor="test:alice", acquired_from="phone of W1"))
    assert not report.refused
    [result] = report.ingested
    expected = hashlib.sha256(src.read_bytes()).hexdigest()
    assert result.sha256 == expected
    assert result.size == src.stat().st_size
    assert result.media_type == "video/mp4"
    store = vault.blobs
    assert isinstance(store, LocalBlobStore)
    stored = store.path_for(expected)
    assert stored.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o444
    assert report.checkpoint_size is not None and report.checkpoint_size >= 2
    with vault.reading() as session:
        acq = session.scalars(select(Acquisition)).one()
        assert acq.acquired_from == "phone of W1"
        assert acq.acquired_by == "test:alice"
        assert acq.original_name == "clip.mp4"
        entry = session.get(LedgerEntry, result.ledger_seq)
        assert entry is not None
        body = json.loads(entry.body)
        assert body["type"] == "evidence.ingest"
        assert f"sha256:{expected}" in body["subjects"]
        assert body["params"]["size"] == result.size


def test_media_type_comes_from_content_not_name(vault: Vault, tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_bytes(PNG)
    [result] = ingest_paths(vault, [src], Acquired(actor="t")).ingested
    assert result.media_type == "image/png"
    assert "extension_mismatch" in result.flags


def test_identical_content_stored_once_each_receipt_recorded(vault: Vault, tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    b = tmp_path / "copy-of-a.bin"
    a.write_bytes(b"same bytes" * 1000)
    b.write_bytes(b"same bytes" * 1000)
    report = ingest_paths(vault, [a, b], Acquired(actor="t"))
    first, second = report.ingested
    assert first.sha256 == second.sha256
    assert not first.duplicate and second.duplicate
    assert _count(vault, EvidenceItem) == 1
    assert _count(vault, Acquisition) == 2
    assert list(vault.blobs.iter_digests()) == [first.sha256]
    with vault.reading() as session:
        types = [
            e.entry_type for e in session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))
        ]
    assert types[-2:] == ["evidence.ingest", "evidence.acquire"]


def test_directories_recursively_and_refusals(vault: Vault, tmp_path: Path) -> None:
    root = tmp_path / "phone"
    (root / "DCIM" / "deep").mkdir(parents=True)
    (root / "DCIM" / "one.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"1" * 100)
    (root / "DCIM" / "deep" / "two.txt").write_text("statement")
    (root / "empty.dat").write_bytes(b"")
    (root / "link.jpg").symlink_to(root / "DCIM" / "one.jpg")
    os.mkfifo(root / "pipe")
    report = ingest_paths(vault, [root, "/dev/null", tmp_path / "missing"], Acquired(actor="t"))
    names = sorted(Path(r.path).name for r in report.ingested)
    assert names == ["empty.dat", "one.jpg", "two.txt"]
    reasons = {Path(r.path).name: r.reason for r in report.refused}
    assert "symbolic link" in reasons["link.jpg"]
    assert "pipe" in reasons["pipe"]
    assert "device" in reasons["null"]
    assert "no such file" in reasons["missing"]
    empty = next(r for r in report.ingested if r.path == "empty.dat")
    assert empty.flags == ["empty"] and empty.size == 0


def test_unreadable_file_refused(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "secret.bin"
    src.write_bytes(b"x")
    real_open = os.open

    def deny(path: object, flags: int, *args: object) -> int:
        if str(path) == str(src):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", deny)
    report = ingest_paths(vault, [src], Acquired(actor="t"))
    assert not report.ingested
    assert "permission denied" in report.refused[0].reason


def test_file_larger_than_free_space_fails_cleanly(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(b"z" * 4096)
    monkeypatch.setattr(LocalBlobStore, "free_space", lambda self: 1000)
    with pytest.raises(InsufficientSpaceError, match="not enough free space"):
        ingest_file(vault, Candidate(src, 4096), Acquired(actor="t"))
    assert _count(vault, EvidenceItem) == 0
    assert list(vault.blobs.iter_digests()) == []
    assert not any((Path(vault.settings.blobs_url) / "tmp").iterdir())


def test_disk_filling_up_mid_write_leaves_nothing(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024))
    real_write = os.write
    calls = {"n": 0}

    def filling_write(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", filling_write)
    report = ingest_paths(vault, [src], Acquired(actor="t"))
    monkeypatch.setattr(os, "write", real_write)
    assert not report.ingested
    assert "filled up" in report.refused[0].reason
    assert _count(vault, EvidenceItem) == 0
    assert not any((Path(vault.settings.blobs_url) / "tmp").iterdir())
    assert verify_vault(vault).ok


def test_incident_link_and_unknown_incident(vault: Vault, tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text("hello")
    with pytest.raises(NotFoundError, match="no incident 99"):
        ingest_paths(vault, [src], Acquired(actor="t", incident_id=99))
    assert _count(vault, EvidenceItem) == 0
    incident = create_incident(vault, "Stop on Alder Street", actor="t")
    [result] = ingest_paths(vault, [src], Acquired(actor="t", incident_id=incident.id)).ingested
    with vault.reading() as session:
        link = session.get(IncidentItem, (incident.id, result.item_id))
        assert link is not None
        entry = session.get(LedgerEntry, result.ledger_seq)
        assert entry is not None
        assert f"incident:{incident.id}" in json.loads(entry.body)["subjects"]


def test_discover_sorts_and_sizes(tmp_path: Path) -> None:
    (tmp_path / "b").write_bytes(b"22")
    (tmp_path / "a").write_bytes(b"1")
    found, refused = discover([tmp_path])
    assert [c.path.name for c in found] == ["a", "b"]
    assert [c.size for c in found] == [1, 2]
    assert refused == []
