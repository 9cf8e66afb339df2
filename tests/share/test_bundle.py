"""Bundles: export, verification from the bundle alone, tampering caught, hostile input refused."""

from __future__ import annotations

import json
import os
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from testigo.errors import NotFoundError, UsageError
from testigo.records.incidents import create_incident
from testigo.share import bagit
from testigo.share.bundle import export_incident
from testigo.share.verify_bundle import verify_bundle
from testigo.vault.derive import store_derived
from testigo.vault.ingest import Acquired, ingest_paths
from testigo.vault.service import Vault

WITNESS = "W1's phone, handed over at the church"


@pytest.fixture
def incident(vault: Vault, tmp_path: Path) -> int:
    created = create_incident(vault, "Window broken on Alder Street", actor="test:alice")
    media = tmp_path / "media"
    media.mkdir()
    (media / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(40_000))
    (media / "statement.txt").write_text("The officers broke the window at 8:40.")
    report = ingest_paths(
        vault, [media], Acquired(actor="test:alice", acquired_from=WITNESS, incident_id=created.id)
    )
    clip = next(r for r in report.ingested if r.media_type == "video/mp4")
    store_derived(
        vault,
        b"\x00\x00\x00\x18ftypmp42" + b"redacted" * 100,
        parents=[clip.item_id],
        derivation="redact",
        params={"faces": "all"},
        actor="test:alice",
        media_type="video/mp4",
    )
    return created.id


def _check(report_dict: dict[str, object], name: str) -> dict[str, object]:
    checks = report_dict["checks"]
    assert isinstance(checks, list)
    return next(c for c in checks if c["check"] == name)


def test_export_and_verify_folder(vault: Vault, incident: int, tmp_path: Path, run_main) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "bundle"
    result = export_incident(vault, incident, out, public=False, actor="test:alice")
    assert (out / "bagit.txt").read_text().startswith("BagIt-Version: 1.0")
    evidence = sorted(p.name for p in (out / "data" / "evidence").iterdir())
    assert len(evidence) == 3
    assert (out / "data" / "report.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "data" / "VERIFY.txt").exists()
    custody = json.loads((out / "data" / "record" / "custody.json").read_text())
    assert any(a.get("acquired_from") == WITNESS for c in custody for a in c["acquisitions"])
    report = verify_bundle(out)
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.key_fingerprint == vault.signing_key().public_key_fingerprint()
    assert result.entries >= 4
    code, stdout, _ = run_main("verify", str(out))
    assert code == 0 and "HOLDS" in stdout
    code, stdout, _ = run_main("verify", str(out), "--pin", "ab" * 32)
    assert code == 1 and "pinned" in stdout


def test_export_zip_and_public(vault: Vault, incident: int, tmp_path: Path) -> None:
    out = tmp_path / "public.zip"
    export_incident(vault, incident, out, public=True, actor="test:alice")
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        evidence = [n for n in names if "/data/evidence/" in n]
        assert len(evidence) == 1  # only the redacted copy
        for name in names:
            assert WITNESS.encode() not in archive.read(name), name
    report = verify_bundle(out)
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.public is True


def test_export_refusals_leave_nothing(vault: Vault, incident: int, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        export_incident(vault, 999, tmp_path / "b", public=False, actor="t")
    existing = tmp_path / "exists"
    existing.mkdir()
    with pytest.raises(UsageError, match="already exists"):
        export_incident(vault, incident, existing, public=False, actor="t")
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.name == "b"]
    assert leftovers == []
    assert list(existing.iterdir()) == []


@pytest.fixture
def bundle(vault: Vault, incident: int, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    export_incident(vault, incident, out, public=False, actor="test:alice")
    assert verify_bundle(out).ok
    return out


def _failed(path: Path) -> list[str]:
    return [c.name for c in verify_bundle(path).checks if not c.ok]


def test_tampered_file_caught(bundle: Path) -> None:
    target = next((bundle / "data" / "evidence").glob("*.txt"))
    target.write_text("The officers never touched the window.")
    assert "every file matches its hash" in _failed(bundle)


def test_tampered_manifest_caught(bundle: Path) -> None:
    target = next((bundle / "data" / "evidence").glob("*.txt"))
    target.write_text("The officers never touched the window.")
    digest = bagit.hash_stream(target.open("rb"))[0]
    manifest = bundle / "manifest-sha256.txt"
    lines = [
        f"{digest}  {line.split(maxsplit=1)[1]}" if target.name in line else line
        for line in manifest.read_text().splitlines()
    ]
    manifest.write_text("\n".join(lines) + "\n")
    failed = _failed(bundle)
    assert "every file matches its hash" in failed  # the tag manifest no longer matches
    assert (
        "the log lists the bundle's files" in failed
        or "every evidence file was recorded in the log" in failed
    )


def test_tampered_proof_caught(bundle: Path) -> None:
    proofs_path = bundle / "data" / "ledger" / "proofs.json"
    proofs = json.loads(proofs_path.read_text())
    path = next(p for p in proofs["inclusion"].values() if p)
    path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]
    proofs_path.write_text(json.dumps(proofs))
    assert "every log entry is proven in the signed log" in _failed(bundle)


def test_tampered_checkpoint_caught(bundle: Path) -> None:
    note_path = next((bundle / "data" / "ledger" / "checkpoints").glob("*.note"))
    lines = note_path.read_text().split("\n")
    lines[2] = "A" * 43 + "="
    note_path.write_text("\n".join(lines))
    assert "checkpoints are signed by the log key" in _failed(bundle)


def test_added_file_caught(bundle: Path) -> None:
    (bundle / "data" / "evidence" / "extra.txt").write_text("planted")
    assert "no file was added" in _failed(bundle)


def _zip_with(
    tmp_path: Path, name: str, members: list[tuple[zipfile.ZipInfo | str, bytes]]
) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("b/bagit.txt", bagit.BAGIT_TXT)
        for info, data in members:
            archive.writestr(info, data)
    return path


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("b/../../evil.txt", "leaves the bag"),
        ("/etc/passwd", "absolute path"),
        ("b/data\\..\\x", "backslash"),
    ],
)
def test_hostile_paths_refused(tmp_path: Path, member: str, message: str) -> None:
    path = _zip_with(tmp_path, "hostile.zip", [(member, b"x")])
    report = verify_bundle(path)
    assert not report.ok
    assert message in report.checks[0].detail


def test_symlink_member_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("b/data/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = _zip_with(tmp_path, "link.zip", [(info, b"/etc/passwd")])
    report = verify_bundle(path)
    assert not report.ok and "symbolic link" in report.checks[0].detail


def test_zip_bomb_refused(tmp_path: Path) -> None:
    path = _zip_with(tmp_path, "bomb.zip", [("b/data/zeros.bin", b"\0" * (64 * 1024 * 1024))])
    assert path.stat().st_size < 1024 * 1024
    report = verify_bundle(path)
    assert not report.ok and "compression bomb" in report.checks[0].detail


def test_enormous_manifest_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bagit, "MAX_TAG_FILE", 1024 * 1024)
    folder = tmp_path / "big"
    (folder / "data").mkdir(parents=True)
    (folder / "bagit.txt").write_text(bagit.BAGIT_TXT)
    line = "0" * 64 + "  data/x\n"
    (folder / "manifest-sha256.txt").write_text(line * (2 * 1024 * 1024 // len(line)))
    report = verify_bundle(folder)
    assert not report.ok and "too large" in report.checks[-1].detail


def test_symlink_in_folder_refused(bundle: Path) -> None:
    os.symlink("/etc/passwd", bundle / "data" / "passwd")
    report = verify_bundle(bundle)
    assert not report.ok and "symbolic link" in report.checks[-1].detail


def test_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert not verify_bundle(tmp_path / "empty").ok
    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    report = verify_bundle(tmp_path / "junk.zip")
    assert not report.ok and "not a readable ZIP" in report.checks[0].detail
    shutil.rmtree(tmp_path / "empty")


def test_timestamped_bundle(
    vault: Vault,
    incident: int,
    tmp_path: Path,
    tsa,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    roots = tmp_path / "tsa-roots.pem"
    roots.write_bytes(tsa.root_pem)
    monkeypatch.setenv("TESTIGO_TSA_URL", tsa.url)
    monkeypatch.setenv("TESTIGO_TSA_CA_FILE", str(roots))
    out = tmp_path / "stamped"
    result = export_incident(vault, incident, out, public=False, actor="test:alice")
    assert result.timestamps >= 1
    report = verify_bundle(out, tsa_roots=roots)
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.timestamps and report.timestamps[0]["checkpoint_size"] == str(
        result.checkpoint_size
    )

    token = next((out / "data" / "ledger" / "timestamps").glob("*.tsr"))
    raw = bytearray(token.read_bytes())
    raw[-40] ^= 0x01
    token.write_bytes(bytes(raw))
    failed = [c.name for c in verify_bundle(out, tsa_roots=roots).checks if not c.ok]
    assert "timestamps match their checkpoints" in failed


def test_log_timestamp_command(vault: Vault, tmp_path: Path, tsa, run_main, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_main("log", "timestamp")
    assert code == 2 and "no timestamp authority" in err
    roots = tmp_path / "roots.pem"
    roots.write_bytes(tsa.root_pem)
    monkeypatch.setenv("TESTIGO_TSA_URL", tsa.url)
    monkeypatch.setenv("TESTIGO_TSA_CA_FILE", str(roots))
    code, out, _ = run_main("log", "timestamp", "--json")
    assert code == 0
    assert len(json.loads(out)) >= 1
    code, out, _ = run_main("log", "timestamp", "--json")
    assert code == 0 and json.loads(out) == []


def test_bundle_holds_the_full_record_and_the_public_one_withholds_names(
    vault: Vault, tmp_path: Path
) -> None:
    from testigo.demo import EXAMPLE_ARTICLE, EXAMPLE_STATEMENT
    from testigo.records.importer import import_article

    first = import_article(vault, EXAMPLE_ARTICLE.encode(), filename="news.txt", actor="t")
    import_article(
        vault,
        EXAMPLE_STATEMENT.encode(),
        filename="statement.txt",
        actor="t",
        incident_id=first.incident_id,
        kind="official_statement",
    )
    full = tmp_path / "full"
    export_incident(vault, first.incident_id, full, public=False, actor="t")
    record = json.loads((full / "data" / "record" / "incident.json").read_text())
    assert len(record["sources"]) == 2
    assert record["timeline"] and record["claims"]
    assert any(
        c["key"] == "warrant.shown" and c["status"] == "contradicted" for c in record["claims"]
    )
    assert verify_bundle(full).ok

    public = tmp_path / "public"
    export_incident(vault, first.incident_id, public, public=True, actor="t")
    text = (public / "data" / "record" / "incident.json").read_text()
    assert "Arbolada" not in text and "Marisela" not in text
    assert "[name withheld]" in text
    assert not (public / "data" / "record" / "transcripts.json").exists()
    assert verify_bundle(public).ok
