"""`testigo backup`, `verify-backup` and `restore`, run as a user runs them (other processes)."""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from testigo.config import Settings
from testigo.db.models import Checkpoint as CheckpointRow
from testigo.vault.service import Vault, open_vault

Target = Callable[[], dict[str, str]]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testigo", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _said(done: subprocess.CompletedProcess[str]) -> str:
    """The error message, unwrapped (the console wraps long lines)."""
    return " ".join(done.stderr.split())


def _ok(env: dict[str, str], *args: str) -> Any:
    done = _cli(env, *args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _ingest(env: dict[str, str], folder: Path, *contents: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for data in contents:
        path = folder / f"{hashlib.sha256(data).hexdigest()[:12]}.bin"
        path.write_bytes(data)
        paths.append(str(path))
    _ok(env, "ingest", *paths)


@pytest.fixture
def fresh_target(settings: Settings, tmp_path: Path) -> Iterator[Target]:
    """Environments for empty homes to restore into: a new folder and, on PostgreSQL, a new
    database (another server, as after losing the first) with the vault's schema name, empty."""
    made: list[str] = []
    admin_url = None
    if not settings.is_sqlite:
        admin_url = make_url(settings.database_url).set(query={})

    def make() -> dict[str, str]:
        home = tmp_path / f"restored-{uuid.uuid4().hex[:8]}"
        env = {"TESTIGO_HOME": str(home), "TESTIGO_ACTOR": "test:restorer"}
        if admin_url is None:
            env["TESTIGO_DATABASE_URL"] = f"sqlite:///{home / 'testigo.sqlite3'}"
        else:
            name = f"testigo_restore_{uuid.uuid4().hex[:10]}"
            with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name}"))
            made.append(name)
            schema = settings.database_url.rsplit("search_path%3D", 1)[-1]
            url = admin_url.set(database=name)
            with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            plain = url.render_as_string(hide_password=False)
            env["TESTIGO_DATABASE_URL"] = f"{plain}?options=-csearch_path%3D{schema}"
        env["TESTIGO_BLOBS_URL"] = str(home / "blobs")
        return env

    yield make
    if admin_url is not None:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in made:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


def _assert_nothing_restored(env: dict[str, str]) -> None:
    home = Path(env["TESTIGO_HOME"])
    assert not (home / "keys").exists()
    assert not (home / "testigo.sqlite3").exists()
    if not env["TESTIGO_DATABASE_URL"].startswith("sqlite"):
        with create_engine(
            env["TESTIGO_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
        ).connect() as conn:
            count = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
            ).scalar_one()
        assert count == 0


def test_backup_check_restore_and_verify(
    vault: Vault, env: dict[str, str], tmp_path: Path, fresh_target: Target
) -> None:
    _ingest(env, tmp_path / "in", b"the window was broken at 8:40", os.urandom(300_000))
    dest = tmp_path / "backup"
    made = _ok(env, "backup", str(dest))
    assert made["blobs"] == 2 and made["blobs_copied"] == 2
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["database"]["kind"] == ("sqlite" if vault.settings.is_sqlite else "postgresql")
    assert manifest["ledger"]["tree_size"] == made["tree_size"]
    assert manifest["ledger"]["checkpoint"]["note"].startswith(vault.origin + "\n")
    copy = dest / manifest["database"]["file"]
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == manifest["database"]["sha256"]
    assert (dest / "keys" / "ledger-ed25519.pem").stat().st_mode & 0o077 == 0

    checked = _ok(env, "verify-backup", str(dest))
    assert checked["ok"], checked["problems"]
    assert checked["blobs_checked"] == 2 and checked["checkpoints_checked"] >= 1
    assert _ok(env, "backup", "--check", str(dest))["ok"]

    target = fresh_target()
    restored = _ok(target, "restore", str(dest))
    assert restored["blobs_copied"] == 2
    report = _ok(target, "verify")
    assert report["ok"], report["problems"]
    assert report["tree_size"] == made["tree_size"]
    assert report["blobs_checked"] == 2
    before = _ok(env, "log", "show", "--limit", "1000")
    after = _ok(target, "log", "show", "--limit", "1000")
    assert after == before
    # The restored vault carries on: same log, same key, new entries signed.
    _ingest(target, tmp_path / "later", b"a later statement")
    assert _ok(target, "verify")["ok"]


def test_second_backup_copies_only_new_blobs_and_keeps_n_copies(
    vault: Vault, env: dict[str, str], tmp_path: Path
) -> None:
    _ingest(env, tmp_path / "a", b"first", b"second", b"third")
    dest = tmp_path / "backup"
    first = _ok(env, "backup", str(dest), "--keep", "2")
    assert (first["blobs"], first["blobs_copied"]) == (3, 3)
    _ingest(env, tmp_path / "b", b"fourth, recorded later")
    second = _ok(env, "backup", str(dest), "--keep", "2")
    assert (second["blobs"], second["blobs_copied"]) == (4, 1)
    assert second["bytes_copied"] == len(b"fourth, recorded later")
    third = _ok(env, "backup", str(dest), "--keep", "2")
    assert third["blobs_copied"] == 0
    assert third["removed_copies"] == [first["stamp"]]
    stamps = [c["stamp"] for c in _ok(env, "verify-backup", str(dest), "--list")]
    assert stamps == [second["stamp"], third["stamp"]]
    assert sorted(p.name.split(".", 2)[-1] for p in (dest / "db").iterdir()) == sorted(
        ["json", "blobs", Path(second["database_file"]).suffix[1:]] * 2
    )
    # An older copy is checked on its own.
    assert _ok(env, "verify-backup", str(dest), "--copy", second["stamp"])["ok"]


def test_backup_refuses_a_destination_inside_the_vault(
    vault: Vault, env: dict[str, str], settings: Settings
) -> None:
    dest = settings.home / "backup"
    done = _cli(env, "backup", str(dest))
    assert done.returncode == 2
    assert "inside the vault" in _said(done)
    assert not dest.exists()


def test_restore_refuses_a_home_that_has_a_vault(
    vault: Vault, env: dict[str, str], tmp_path: Path
) -> None:
    dest = tmp_path / "backup"
    _ok(env, "backup", str(dest))
    before = _ok(env, "log", "show")
    done = _cli(env, "restore", str(dest))
    assert done.returncode == 2
    assert "already has a vault" in _said(done)
    assert _ok(env, "log", "show") == before


def test_restore_refuses_incomplete_or_damaged_backups(
    vault: Vault, env: dict[str, str], tmp_path: Path, fresh_target: Target
) -> None:
    _ingest(env, tmp_path / "in", b"evidence")
    dest = tmp_path / "backup"
    _ok(env, "backup", str(dest))
    manifest_path = dest / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    target = fresh_target()

    # No manifest: the backup never finished.
    manifest_path.rename(tmp_path / "manifest.json")
    done = _cli(target, "restore", str(dest))
    assert done.returncode == 1 and "no manifest.json" in _said(done)
    assert _cli(env, "verify-backup", str(dest)).returncode == 1
    _assert_nothing_restored(target)
    (tmp_path / "manifest.json").rename(manifest_path)

    # The database copy was altered after it was written.
    copy = dest / manifest["database"]["file"]
    original = copy.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    copy.write_bytes(bytes(damaged))
    done = _cli(target, "restore", str(dest))
    assert done.returncode == 1 and "does not match its manifest" in _said(done)
    assert _cli(env, "verify-backup", str(dest)).returncode == 1
    _assert_nothing_restored(target)
    copy.write_bytes(original)

    # A backed-up blob was altered: the check names it, the restore refuses it.
    digest = manifest_path.parent.joinpath(manifest["blobs"]["list"]).read_text().split()[0]
    blob = dest / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest
    blob.chmod(0o644)
    blob.write_bytes(b"EVIDENCE")
    checked = json.loads(_cli(env, "verify-backup", str(dest), "--json").stdout)
    assert not checked["ok"]
    assert any(digest[:16] in p and "blob" in p for p in checked["problems"])
    done = _cli(target, "restore", str(dest))
    assert done.returncode == 1 and "altered" in _said(done)
    _assert_nothing_restored(target)


def test_restore_of_a_sqlite_backup_into_the_default_home(
    vault: Vault, env: dict[str, str], tmp_path: Path
) -> None:
    if not vault.settings.is_sqlite:
        pytest.skip("the default home holds a SQLite vault")
    _ingest(env, tmp_path / "in", b"one file")
    dest = tmp_path / "backup"
    _ok(env, "backup", str(dest))
    # Only TESTIGO_HOME: the database and blobs go where a fresh `testigo init` puts them.
    target = {"TESTIGO_HOME": str(tmp_path / "new-home"), "TESTIGO_ACTOR": "test:restorer"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TESTIGO_")}
    done = subprocess.run(
        [sys.executable, "-m", "testigo", "restore", str(dest)],
        env={**clean, **target},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "new-home" / "testigo.sqlite3").is_file()
    done = subprocess.run(
        [sys.executable, "-m", "testigo", "verify", "--json"],
        env={**clean, **target},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["blobs_checked"] == 1


@pytest.mark.slow
def test_backup_while_a_server_records_live_captures(
    vault: Vault, env: dict[str, str], tmp_path: Path, fresh_target: Target
) -> None:
    from capture.media import make_webm, split_clusters
    from capture.server import ServerProcess
    from testigo.capture import service

    api = "/api/v1/capture/sessions"
    parts = split_clusters(make_webm(seconds=12))
    token = service.create_token(vault, actor="test", uses=50)
    server = ServerProcess({**env, "TESTIGO_CAPTURE_CHECKPOINT_SECONDS": "0.3"})
    acked: list[tuple[str, int, str]] = []
    stop = threading.Event()
    failures: list[str] = []

    def sender() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                opened = client.post(api, json={"token": token.token, "mime_type": "video/webm"})
                if opened.status_code != 201 and opened.status_code != 200:
                    failures.append(opened.text)
                    return
                sid, key = opened.json()["id"], {"Capture-Key": opened.json()["upload_key"]}
                offset = 0
                for index, part in enumerate(parts):
                    response = client.patch(
                        f"{api}/{sid}",
                        content=part,
                        headers={
                            **key,
                            "Chunk-Index": str(index),
                            "Upload-Offset": str(offset),
                            "Chunk-SHA256": hashlib.sha256(part).hexdigest(),
                            "Chunk-Duration-Ms": "1000",
                        },
                    )
                    if response.status_code != 200:
                        failures.append(response.text)
                        return
                    acked.append((sid, index, response.json()["chain_hash"]))
                    offset += len(part)
                    if stop.is_set():
                        return
                client.post(f"{api}/{sid}/finish", json={"chunks": len(parts)}, headers=key)

    def checkpoints(of: Vault) -> list[tuple[int, str]]:
        with of.reading() as session:
            rows = session.scalars(select(CheckpointRow).order_by(CheckpointRow.id))
            return [(r.tree_size, r.note) for r in rows]

    server.start()
    thread = threading.Thread(target=sender)
    thread.start()
    dest = tmp_path / "backup"
    try:
        deadline = time.monotonic() + 120
        while len(acked) < 2 * len(parts) and time.monotonic() < deadline and not failures:
            time.sleep(0.05)
        assert not failures and len(acked) >= 2 * len(parts)
        signed_before = checkpoints(vault)
        acked_before = list(acked)
        made = _ok(env, "backup", str(dest))
        during = len(acked) - len(acked_before)
        # Writing goes on after the backup, and a second run picks the new chunks up.
        grown = len(acked)
        while len(acked) < grown + 3 and time.monotonic() < deadline and not failures:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(60)
        server.stop()
    assert not failures, failures
    assert made["tree_size"] >= max(size for size, _ in signed_before)
    assert _ok(env, "verify-backup", str(dest))["ok"]

    target = fresh_target()
    _ok(target, "restore", str(dest))
    report = _ok(target, "verify")
    assert report["ok"], report["problems"]
    restored = open_vault(
        Settings(
            home=Path(target["TESTIGO_HOME"]),
            database_url=target["TESTIGO_DATABASE_URL"],
            blobs_url=target["TESTIGO_BLOBS_URL"],
            actor="test",
            checkpoint_origin="",
        )
    )
    try:
        kept = checkpoints(restored)
        # Every checkpoint signed before the backup began is there, unchanged...
        assert set(signed_before) <= set(kept)
        # ...and the restored ledger is consistent with each of them (verify checked the chain;
        # here each is proven against the restored vault's newest checkpoint).
        newest = max(size for size, _ in kept)
        for size, _ in signed_before:
            proof = _ok(target, "log", "consistency", str(size), str(newest))
            assert proof["verified"]
        # Every chunk acknowledged before the backup began is in it, with its chain hash.
        for sid, index, chain_hash in acked_before:
            capture = service.get_session(restored, sid)
            assert service.chunks_of(restored, capture.id)[index].chain_hash == chain_hash
    finally:
        restored.dispose()
    print(f"chunks acknowledged while the backup ran: {during}")


@pytest.mark.slow
def test_backup_to_a_bucket_and_restore_from_it(
    vault: Vault,
    env: dict[str, str],
    tmp_path: Path,
    fresh_target: Target,
    s3_env: Any,
    s3_prefix: str,
) -> None:
    if not vault.settings.is_sqlite:
        pytest.skip("the bucket is exercised once")
    _ingest(env, tmp_path / "in", b"kept in a bucket", os.urandom(100_000))
    dest = f"s3://{s3_env.bucket}/{s3_prefix}/backup"
    s3 = {name: os.environ[name] for name in os.environ if name.startswith(("AWS_", "TESTIGO_S3_"))}
    first = _ok({**env, **s3}, "backup", dest)
    assert first["blobs_copied"] == 2
    assert _ok({**env, **s3}, "backup", dest)["blobs_copied"] == 0
    assert _ok({**env, **s3}, "verify-backup", dest)["ok"]
    target = {**fresh_target(), **s3}
    _ok(target, "restore", dest)
    assert _ok(target, "verify")["ok"]
    assert _ok(target, "log", "show") == _ok(env, "log", "show")


def test_backup_leaves_the_live_database_files_to_sqlite(
    vault: Vault, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only SQLite touches the live files: no Python-level open or stat of them by the backup."""
    if not vault.settings.is_sqlite:
        pytest.skip("SQLite's files")
    from testigo.vault.backup import backup_vault

    database = str(vault.engine.url.database)
    touched: list[str] = []
    real_open, real_stat = os.open, os.stat

    def watching_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).startswith(database):
            touched.append(f"open {path}")
        return real_open(path, *args, **kwargs)

    def watching_stat(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).startswith(database):
            touched.append(f"stat {path}")
        return real_stat(path, *args, **kwargs)

    def watching_io_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).startswith(database):
            touched.append(f"io.open {path}")
        return real_io_open(path, *args, **kwargs)

    real_io_open = io.open
    monkeypatch.setattr(os, "open", watching_open)
    monkeypatch.setattr(os, "stat", watching_stat)
    monkeypatch.setattr(io, "open", watching_io_open)
    monkeypatch.setattr(builtins, "open", watching_io_open)
    report = backup_vault(vault.settings, str(tmp_path / "backup"))
    assert report.tree_size >= 1
    assert touched == []
