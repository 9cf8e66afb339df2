"""The blob mirror (TESTIGO_BLOBS_MIRROR_URL): every blob in two stores before anything refers to
it; a mirror that is down stops acknowledgements unless the operator accepted one copy; verify
names every copy that differs; `testigo blobs sync-mirror` brings the stores back in step."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from testigo.capture import pacer, service
from testigo.capture.errors import StoreUnavailable
from testigo.capture.models import CaptureChunk
from testigo.config import Settings, load_settings
from testigo.db.models import EvidenceItem, LedgerEntry
from testigo.errors import UsageError
from testigo.vault.blobs import open_blob_store
from testigo.vault.ingest import Acquired, ingest_paths
from testigo.vault.localstore import LocalBlobStore
from testigo.vault.mirror import MirroredBlobStore, MirrorUnavailableError
from testigo.vault.service import Vault, init_vault, open_vault
from testigo.vault.verify import verify_vault

ACQ = Acquired(actor="test:alice")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def mirror_dir(tmp_path: Path) -> Path:
    return tmp_path / "elsewhere" / "mirror"


@pytest.fixture
def mirrored_settings(
    settings: Settings, mirror_dir: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("TESTIGO_BLOBS_MIRROR_URL", str(mirror_dir))
    monkeypatch.delenv("TESTIGO_BLOBS_MIRROR_REQUIRED", raising=False)
    return dataclasses.replace(settings, blobs_mirror_url=str(mirror_dir))


def _open(settings: Settings) -> Iterator[Vault]:
    init_vault(settings)
    vault = open_vault(settings)
    try:
        yield vault
    finally:
        pacer.stop_pacing(vault)
        vault.dispose()


@pytest.fixture
def mvault(mirrored_settings: Settings) -> Iterator[Vault]:
    yield from _open(mirrored_settings)


@pytest.fixture
def lenient(mirrored_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Vault]:
    monkeypatch.setenv("TESTIGO_BLOBS_MIRROR_REQUIRED", "0")
    yield from _open(dataclasses.replace(mirrored_settings, blobs_mirror_required=False))


def _take_down(mirror_dir: Path) -> Path:
    """The mirror goes away (an unmounted share, a dead disk): its folder is gone."""
    away = mirror_dir.with_name("mirror-away")
    mirror_dir.rename(away)
    return away


def _mirror(vault: Vault) -> LocalBlobStore:
    assert isinstance(vault.blobs, MirroredBlobStore)
    mirror = vault.blobs.mirror
    assert isinstance(mirror, LocalBlobStore)
    return mirror


def _chunk_rows(vault: Vault) -> int:
    with vault.reading() as session:
        return int(session.execute(select(func.count()).select_from(CaptureChunk)).scalar_one())


def _ledger_size(vault: Vault) -> int:
    with vault.reading() as session:
        return int(session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one())


def _append(vault: Vault, sid: str, key: str, index: int, offset: int, data: bytes):  # type: ignore[no-untyped-def]
    return service.append_chunk(
        vault,
        sid,
        key,
        index=index,
        offset=offset,
        data=data,
        sha256_header=sha(data),
        duration_ms=1000,
    )


def _live(vault: Vault) -> tuple[str, str]:
    token = service.create_token(vault, actor="test:alice", label="mirror test")
    session = service.open_session(vault, token.token, mime_type="video/webm")
    return session.public_id, session.upload_key


# -- every blob in both stores -----------------------------------------------------------------


def test_ingested_files_are_in_both_stores(mvault: Vault, tmp_path: Path) -> None:
    files = []
    for n in range(3):
        path = tmp_path / f"statement-{n}.txt"
        path.write_bytes(f"statement {n}: the van had no plates".encode() * (n + 1))
        files.append(path)
    ingest_paths(mvault, files, ACQ)
    mirror = _mirror(mvault)
    with mvault.reading() as session:
        digests = list(session.execute(select(EvidenceItem.sha256)).scalars())
    assert len(digests) == 3
    for digest in digests:
        assert mirror.exists(digest)
        primary = mvault.blobs.primary  # type: ignore[attr-defined]
        assert mirror.path_for(digest).read_bytes() == primary.path_for(digest).read_bytes()
    report = verify_vault(mvault)
    assert report.ok, report.problems
    assert report.mirror_checked == 3
    assert report.to_dict()["mirror"]["url"] == mirror.url


def test_every_chunk_is_in_the_mirror_when_it_is_acknowledged(mvault: Vault) -> None:
    sid, key = _live(mvault)
    mirror = _mirror(mvault)
    offset = 0
    for index in range(5):
        data = bytes([index]) * (1000 + index)
        ack = _append(mvault, sid, key, index, offset, data)
        assert ack.index == index
        assert mirror.exists(sha(data)), "acknowledged before the mirror held the chunk"
        offset += len(data)


def test_mirror_down_refuses_the_chunk_and_stores_nothing(mvault: Vault, mirror_dir: Path) -> None:
    sid, key = _live(mvault)
    first = b"first chunk" * 100
    _append(mvault, sid, key, 0, 0, first)
    rows, entries = _chunk_rows(mvault), _ledger_size(mvault)
    away = _take_down(mirror_dir)
    second = b"second chunk" * 100
    with pytest.raises(StoreUnavailable) as refused:
        _append(mvault, sid, key, 1, len(first), second)
    assert refused.value.status == 503
    assert "mirror" in str(refused.value) and str(mirror_dir) in str(refused.value)
    assert _chunk_rows(mvault) == rows and _ledger_size(mvault) == entries
    # The mirror comes back: the phone's resend of the same chunk is acknowledged.
    shutil.rmtree(mirror_dir, ignore_errors=True)
    away.rename(mirror_dir)
    ack = _append(mvault, sid, key, 1, len(first), second)
    assert ack.index == 1 and not ack.duplicate
    assert _mirror(mvault).exists(sha(second))


def test_mirror_down_fails_an_ingest_whole(mvault: Vault, mirror_dir: Path, tmp_path: Path) -> None:
    _take_down(mirror_dir)
    path = tmp_path / "photo.bin"
    path.write_bytes(b"\x89PNG not really" * 50)
    before = _ledger_size(mvault)
    report = ingest_paths(mvault, [path], ACQ)
    assert not report.ingested
    assert report.refused and "mirror" in report.refused[0].reason
    assert _ledger_size(mvault) == before


def test_http_chunk_answers_503_while_the_mirror_is_down(
    mirrored_settings: Settings, mirror_dir: Path
) -> None:
    from fastapi.testclient import TestClient

    from testigo.web.app import create_app

    init_vault(mirrored_settings)
    with TestClient(create_app(mirrored_settings)) as client:
        vault: Vault = client.app.state.vault  # type: ignore[attr-defined]
        sid, key = _live(vault)
        _take_down(mirror_dir)
        data = b"chunk while the mirror is down" * 40
        response = client.patch(
            f"/api/v1/capture/sessions/{sid}",
            content=data,
            headers={
                "Capture-Key": key,
                "Chunk-Index": "0",
                "Upload-Offset": "0",
                "Chunk-SHA256": sha(data),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert response.status_code == 503
        assert response.json()["code"] == "storage_unavailable"
        head = client.head(f"/api/v1/capture/sessions/{sid}", headers={"Capture-Key": key})
        assert head.headers["Upload-Offset"] == "0" and head.headers["Chunk-Index"] == "0"
        pacer.stop_pacing(vault)


# -- one copy accepted: the gap is reported and repaired -----------------------------------------


def test_not_required_acknowledges_and_verify_names_the_gap(
    lenient: Vault,
    mirror_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    run_main,  # type: ignore[no-untyped-def]
) -> None:
    sid, key = _live(lenient)
    away = _take_down(mirror_dir)
    data = b"kept in one place for now" * 30
    with caplog.at_level(logging.WARNING, logger="testigo.blobs.mirror"):
        ack = _append(lenient, sid, key, 0, 0, data)
    assert ack.index == 0
    assert any("sync-mirror" in r.getMessage() for r in caplog.records)
    away.rename(mirror_dir)
    report = verify_vault(lenient)
    assert not report.ok
    mirror_problems = [p for p in report.problems if p.kind == "mirror"]
    assert len(mirror_problems) == 1 and "missing" in mirror_problems[0].message
    assert sha(data)[:16] in mirror_problems[0].subject

    code, out, _ = run_main("blobs", "sync-mirror", "--check")
    assert code == 1 and "1 missing from the mirror" in out
    code, out, _ = run_main("blobs", "sync-mirror")
    assert code == 0, out
    assert "1 copied to the mirror" in out
    assert _mirror(lenient).exists(sha(data))
    assert verify_vault(lenient).ok
    code, out, _ = run_main("blobs", "sync-mirror", "--check")
    assert code == 0, out


def test_altered_mirror_copy_is_named_and_replaced(
    mvault: Vault,
    tmp_path: Path,
    run_main,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "statement.txt"
    path.write_bytes(b"the officer said: no warrant is needed")
    ingest_paths(mvault, [path], ACQ)
    digest = sha(path.read_bytes())
    copy = _mirror(mvault).path_for(digest)
    copy.chmod(0o644)
    copy.write_bytes(b"the officer said: a warrant was shown")
    report = verify_vault(mvault)
    assert [p.kind for p in report.problems] == ["mirror"]
    assert "altered" in report.problems[0].message
    code, out, _ = run_main("blobs", "sync-mirror")
    assert code == 0, out
    assert copy.read_bytes() == path.read_bytes()
    assert verify_vault(mvault).ok


def test_a_lost_primary_copy_is_read_from_the_mirror_and_restored(
    mvault: Vault,
    tmp_path: Path,
    run_main,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "video.bin"
    path.write_bytes(b"frames" * 5000)
    ingest_paths(mvault, [path], ACQ)
    digest = sha(path.read_bytes())
    primary = mvault.blobs.primary  # type: ignore[attr-defined]
    primary.remove_for_tests(digest)
    with mvault.blobs.open(digest) as handle:  # still available
        assert handle.read() == path.read_bytes()
    report = verify_vault(mvault)
    assert [(p.kind, p.message) for p in report.problems] == [
        ("blob", "the stored file is missing")
    ]
    code, out, _ = run_main("blobs", "sync-mirror", "--json")
    assert code == 0, out
    assert digest in out
    assert primary.exists(digest)
    assert verify_vault(mvault).ok


def test_neither_copy_intact_is_a_failure(
    mvault: Vault,
    tmp_path: Path,
    run_main,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "gone.bin"
    path.write_bytes(b"both copies lost" * 10)
    ingest_paths(mvault, [path], ACQ)
    digest = sha(path.read_bytes())
    mvault.blobs.primary.remove_for_tests(digest)  # type: ignore[attr-defined]
    _mirror(mvault).remove_for_tests(digest)
    code, out, _ = run_main("blobs", "sync-mirror")
    assert code == 1
    assert "neither store holds an intact copy" in out


# -- configuration mistakes ----------------------------------------------------------------------


def test_the_mirror_must_be_another_store(vault: Vault, settings: Settings) -> None:
    for url in (settings.blobs_url, str(Path(settings.blobs_url) / "inside")):
        with pytest.raises(UsageError, match="separate store"):
            open_vault(dataclasses.replace(settings, blobs_mirror_url=url))


def test_a_bad_required_flag_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTIGO_BLOBS_MIRROR_REQUIRED", "maybe")
    with pytest.raises(UsageError, match="must be 1 or 0"):
        load_settings()


def test_sync_without_a_mirror_says_how_to_set_one(
    vault: Vault,
    run_main,  # type: ignore[no-untyped-def]
) -> None:
    code, _, err = run_main("blobs", "sync-mirror")
    assert code == 2 and "TESTIGO_BLOBS_MIRROR_URL" in err


def test_copy_to_mirror_checks_the_digest(tmp_path: Path) -> None:
    primary = LocalBlobStore(tmp_path / "a")
    mirror = LocalBlobStore(tmp_path / "b")
    store = MirroredBlobStore(primary, mirror)
    import io

    blob = store.put_stream(io.BytesIO(b"evidence"))
    assert mirror.exists(blob.sha256)
    # A primary copy altered after it was written is never copied under the original address.
    path = primary.path_for(blob.sha256)
    mirror.remove_for_tests(blob.sha256)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(MirrorUnavailableError, match="changed while it was read"):
        store.copy_to_mirror(blob.sha256, 8)
    assert not mirror.exists(blob.sha256)
    assert open_blob_store(str(tmp_path / "b")).exists(blob.sha256) is False


# -- an S3 bucket as the mirror ------------------------------------------------------------------


@pytest.mark.slow
def test_s3_mirror_holds_every_blob_and_is_repaired(
    settings: Settings,
    env: dict[str, str],
    s3_env,  # type: ignore[no-untyped-def]
    s3_prefix: str,
    s3_client,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    run_main,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"s3://{s3_env.bucket}/{s3_prefix}"
    monkeypatch.setenv("TESTIGO_BLOBS_MIRROR_URL", url)
    for vault in _open(dataclasses.replace(settings, blobs_mirror_url=url)):
        sid, key = _live(vault)
        chunks = [bytes([n]) * (2000 + n) for n in range(3)]
        offset = 0
        for index, data in enumerate(chunks):
            _append(vault, sid, key, index, offset, data)
            offset += len(data)
            assert vault.blobs.mirror.exists(sha(data))  # type: ignore[attr-defined]
        report = verify_vault(vault)
        assert report.ok and report.mirror_checked == 3, report.problems
        # Someone rewrites one object in the bucket: verify names it, sync puts it right.
        mirror = vault.blobs.mirror  # type: ignore[attr-defined]
        s3_client.put_object(Bucket=mirror.bucket, Key=mirror.key_for(sha(chunks[1])), Body=b"x")
        report = verify_vault(vault)
        assert [p.kind for p in report.problems] == ["mirror"]
        assert "altered" in report.problems[0].message
        code, out, _ = run_main("blobs", "sync-mirror")
        assert code == 0, out
        assert verify_vault(vault).ok


@pytest.mark.slow
def test_s3_mirror_that_cannot_be_written_refuses_the_chunk(
    settings: Settings,
    env: dict[str, str],
    s3_env,  # type: ignore[no-untyped-def]
) -> None:
    url = "s3://testigo-no-such-bucket/mirror"
    for vault in _open(dataclasses.replace(settings, blobs_mirror_url=url)):
        sid, key = _live(vault)
        with pytest.raises(StoreUnavailable, match="testigo-no-such-bucket"):
            _append(vault, sid, key, 0, 0, b"chunk" * 100)
        assert _chunk_rows(vault) == 0


def test_an_unreachable_mirror_still_lets_the_vault_be_read_and_verified(
    vault: Vault,
    settings: Settings,
    run_main,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    s3_env,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("TESTIGO_BLOBS_MIRROR_URL", "s3://testigo-no-such-bucket/mirror")
    code, out, _ = run_main("log", "show", "--json")
    assert code == 0
    code, out, _ = run_main("verify")
    assert code == 1
    assert "mirror" in out and "cannot be reached" in out
