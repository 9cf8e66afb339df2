"""Several processes on one SQLite vault: a CLI command beside a live server loses nothing.

The regression this guards: durability was once forced by opening the database file and its WAL
and closing them after an fsync. Closing any descriptor of a file drops every POSIX lock the
process holds on it, SQLite's own included, so the next CLI command to close its last connection
believed it was alone, checkpointed and deleted the WAL under the server, and the server's later
commits (acknowledged chunks, answered uploads) went into a deleted file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testigo.vault import ledger
from testigo.vault.service import Vault


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testigo", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _append(vault: Vault, i: int, *, durable: bool) -> None:
    with vault.transaction(durable=durable) as session:
        ledger.append_entry(
            session,
            ledger.NewEntry("test.note", "test", [f"sha256:{i:064x}"], {"i": i}),
        )


def _sqlite_only(vault: Vault) -> Path:
    if vault.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite file shared by processes")
    database = vault.engine.url.database
    assert database
    return Path(database)


def test_cli_commands_beside_a_writer_keep_its_later_commits(
    vault: Vault, env: dict[str, str]
) -> None:
    database = _sqlite_only(vault)
    # The "server": this process holds pooled connections and commits, durable and not.
    _append(vault, 1, durable=True)
    _append(vault, 2, durable=False)
    vault.checkpoint()
    wal = Path(f"{database}-wal")
    assert wal.exists()
    before = wal.stat().st_ino
    # The commands a user runs in a second terminal open the vault and close it again.
    for args in (["log", "show", "--json"], ["verify"], ["capture", "list", "--json"]):
        done = _cli(env, *args)
        assert done.returncode == 0, done.stderr
        # The server still has the database open: the WAL must not have been reset under it.
        assert wal.exists(), f"`testigo {' '.join(args)}` removed the WAL of a live writer"
        assert wal.stat().st_ino == before
    for i in range(3, 8):
        _append(vault, i, durable=i % 2 == 1)
    checkpoint = vault.checkpoint()
    # What a fresh process reads: every commit the writer made, and the checkpoint it signed.
    done = _cli(env, "log", "show", "--json")
    assert done.returncode == 0, done.stderr
    notes = [e for e in json.loads(done.stdout) if e["entry"]["type"] == "test.note"]
    assert len(notes) == 7
    done = _cli(env, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert checkpoint.tree_size == ledger_size(vault)


def ledger_size(vault: Vault) -> int:
    with vault.reading() as session:
        return ledger.tree_size(session)


def test_durable_commits_leave_the_database_files_to_sqlite(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Testigo code opens the database's files itself: only SQLite's own calls may."""
    database = _sqlite_only(vault)
    opened: list[str] = []
    real_open = os.open

    def watching_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).startswith(str(database)):
            opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", watching_open)
    _append(vault, 1, durable=True)
    vault.checkpoint(force=True)
    assert opened == []


def test_durable_transactions_commit_at_full_and_ordinary_ones_do_not(vault: Vault) -> None:
    _sqlite_only(vault)
    levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    with vault.transaction(durable=True) as session:
        durable_level = session.connection().exec_driver_sql("PRAGMA synchronous").scalar()
    with vault.transaction() as session:
        ordinary_level = session.connection().exec_driver_sql("PRAGMA synchronous").scalar()
    assert levels[durable_level] == "FULL"
    assert levels[ordinary_level] == "NORMAL"


def test_a_long_read_never_holds_up_a_writer(vault: Vault) -> None:
    """`testigo verify` or an export reads for minutes on a big vault; a live capture beside it
    must still commit. Readers see one snapshot: what was committed when they began."""
    _append(vault, 1, durable=False)
    with vault.reading() as reader:
        before = ledger.tree_size(reader)
        # A writer (in another thread, as the server's would be) commits while the read is open.
        done: list[BaseException | None] = []

        def write() -> None:
            try:
                _append(vault, 2, durable=True)
                done.append(None)
            except BaseException as exc:  # reported below
                done.append(exc)

        import threading

        thread = threading.Thread(target=write)
        thread.start()
        thread.join(30)
        assert done == [None], done
        # The reader still sees the state it began with (a consistent snapshot on both backends).
        assert ledger.tree_size(reader) == before
    with vault.reading() as later:
        assert ledger.tree_size(later) == before + 1


def test_a_reader_cannot_write(vault: Vault) -> None:
    # The database itself refuses (SQLite: query_only; PostgreSQL: a READ ONLY transaction).
    with pytest.raises(Exception, match=r"(?i)read.?only"), vault.reading() as reader:
        ledger.append_entry(reader, ledger.NewEntry("test.note", "test", [], {}))


def test_ingesting_the_vault_folder_refuses_its_own_files(
    vault: Vault, env: dict[str, str], tmp_path: Path
) -> None:
    """`testigo ingest .` from a folder that holds the vault must not read the live database."""
    from testigo.vault.ingest import INSIDE_VAULT

    outside = tmp_path / "notes.txt"
    outside.write_text("a witness's note\n")
    done = _cli(env, "ingest", str(tmp_path), "--json")
    assert done.returncode == 2, done.stderr  # some files were refused
    report = json.loads(done.stdout)
    assert [Path(i["path"]).name for i in report["ingested"]] == ["notes.txt"]
    refused = {r["path"]: r["reason"] for r in report["refused"]}
    home = str(vault.settings.home)
    assert any(p.startswith(home) or p == home for p in refused), refused
    assert all(reason == INSIDE_VAULT for reason in refused.values())
    if vault.engine.dialect.name == "sqlite":
        database = str(vault.engine.url.database)
        assert not any(i["path"].startswith(database) for i in report["ingested"])
