"""`testigo verify`: intact vaults pass; every kind of tampering is caught and named precisely."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from testigo.vault.checkpoint import Checkpoint, sign_checkpoint
from testigo.vault.ingest import Acquired, IngestResult, ingest_paths
from testigo.vault.keys import SigningKey
from testigo.vault.localstore import LocalBlobStore
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault


@pytest.fixture
def filled(vault: Vault, tmp_path: Path) -> list[IngestResult]:
    files = []
    for i in range(5):
        path = tmp_path / f"file{i}.bin"
        path.write_bytes(bytes([i]) * (1000 + i))
        files.append(path)
    report = ingest_paths(vault, files, Acquired(actor="test:alice", acquired_from="a phone"))
    assert len(report.ingested) == 5
    return report.ingested


def tamper(vault: Vault, table: str, action: Callable[[Connection], None]) -> None:
    """Bypass the append-only guard, as someone with raw database access could."""
    with vault.engine.begin() as conn:
        if vault.engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only_update")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only_delete")
        else:
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        action(conn)


def kinds(vault: Vault) -> list[tuple[str, str]]:
    report = verify_vault(vault)
    return [(p.kind, p.message) for p in report.problems]


def test_intact_vault_verifies(vault: Vault, filled: list[IngestResult], run_main) -> None:  # type: ignore[no-untyped-def]
    report = verify_vault(vault)
    assert report.ok, report.problems
    assert report.blobs_checked == 5
    assert report.entries_checked == 6
    assert report.checkpoints_checked >= 2
    code, out, _ = run_main("verify", "--json")
    assert code == 0
    assert json.loads(out)["ok"] is True


def test_altered_blob_is_caught(vault: Vault, filled: list[IngestResult], run_main) -> None:  # type: ignore[no-untyped-def]
    store = vault.blobs
    assert isinstance(store, LocalBlobStore)
    path = store.path_for(filled[2].sha256)
    path.chmod(0o644)
    path.write_bytes(b"\x02" * 1001 + b"!")
    report = verify_vault(vault)
    [problem] = report.problems
    assert problem.kind == "blob" and "altered" in problem.message
    assert problem.expected is not None and filled[2].sha256 in problem.expected
    assert f"item {filled[2].item_id}" in problem.subject
    code, out, _ = run_main("verify")
    assert code == 1
    assert "the stored file was altered" in out


def test_removed_blob_is_caught(vault: Vault, filled: list[IngestResult]) -> None:
    store = vault.blobs
    assert isinstance(store, LocalBlobStore)
    store.remove_for_tests(filled[0].sha256)
    [problem] = verify_vault(vault).problems
    assert problem.kind == "blob" and "missing" in problem.message


def test_edited_ledger_entry_is_caught(vault: Vault, filled: list[IngestResult]) -> None:
    seq = filled[1].ledger_seq

    def edit(conn: Connection) -> None:
        body = conn.execute(text("SELECT body FROM ledger_entries WHERE seq = :s"), {"s": seq})
        raw = bytes(body.scalar_one()).replace(b"a phone", b"a drone")
        conn.execute(
            text("UPDATE ledger_entries SET body = :b WHERE seq = :s"), {"b": raw, "s": seq}
        )

    tamper(vault, "ledger_entries", edit)
    problems = verify_vault(vault).problems
    assert any(
        p.kind == "ledger" and p.subject == f"entry {seq}" and "edited" in p.message
        for p in problems
    )
    # The acquisition row no longer matches its (edited) entry either.
    assert any(p.kind == "evidence" for p in problems)


def test_edited_ledger_entry_with_recomputed_leaf_is_caught(
    vault: Vault, filled: list[IngestResult]
) -> None:
    """An attacker who also fixes the leaf hash is caught by the tree and the signed roots."""
    from testigo.vault.merkle import leaf_hash

    seq = filled[3].ledger_seq

    def edit(conn: Connection) -> None:
        body = conn.execute(text("SELECT body FROM ledger_entries WHERE seq = :s"), {"s": seq})
        raw = bytes(body.scalar_one()).replace(b"test:alice", b"test:mallo")
        conn.execute(
            text("UPDATE ledger_entries SET body = :b, leaf_hash = :h, actor = :a WHERE seq = :s"),
            {"b": raw, "h": leaf_hash(raw), "a": "test:mallo", "s": seq},
        )

    tamper(vault, "ledger_entries", edit)
    problems = verify_vault(vault).problems
    assert any(p.subject.startswith("tree node level 0") for p in problems)
    assert any(p.kind == "checkpoint" and "rebuilt" in p.message for p in problems)


def test_deleted_ledger_entries_are_caught(vault: Vault, filled: list[IngestResult]) -> None:
    def delete(conn: Connection) -> None:
        conn.execute(text("DELETE FROM ledger_entries WHERE seq >= 4"))

    tamper(vault, "ledger_entries", delete)
    problems = verify_vault(vault).problems
    assert any("commits to more entries" in p.message for p in problems)


def test_forged_checkpoint_is_caught(vault: Vault, filled: list[IngestResult]) -> None:
    forger = SigningKey.generate(vault.origin)
    with vault.reading() as session:
        from testigo.vault import ledger

        size = ledger.tree_size(session)
        root = ledger.root_at(session, size)
    note = sign_checkpoint(Checkpoint(origin=vault.origin, size=size, root=root), forger)
    with vault.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO checkpoints (tree_size, root_hash, note, created_at) "
                "VALUES (:s, :r, :n, 'now')"
            ),
            {"s": size, "r": root, "n": note},
        )
    problems = verify_vault(vault).problems
    assert any(
        p.kind == "checkpoint" and "not signed by a trusted key" in p.message for p in problems
    )


def test_checkpoint_with_altered_root_is_caught(vault: Vault, filled: list[IngestResult]) -> None:
    def edit(conn: Connection) -> None:
        note = conn.execute(
            text("SELECT note FROM checkpoints ORDER BY id DESC LIMIT 1")
        ).scalar_one()
        lines = note.split("\n")
        lines[2] = "A" * 43 + "="
        conn.execute(
            text("UPDATE checkpoints SET note = :n WHERE id = (SELECT max(id) FROM checkpoints)"),
            {"n": "\n".join(lines)},
        )

    tamper(vault, "checkpoints", edit)
    problems = verify_vault(vault).problems
    assert any(p.kind == "checkpoint" and "signature" in p.message for p in problems)


def test_edited_evidence_row_is_caught(vault: Vault, filled: list[IngestResult]) -> None:
    def edit(conn: Connection) -> None:
        conn.execute(
            text("UPDATE evidence_items SET size = 1 WHERE id = :i"), {"i": filled[0].item_id}
        )

    tamper(vault, "evidence_items", edit)
    problems = verify_vault(vault).problems
    assert any(p.kind == "evidence" and "size" in p.message for p in problems)
    assert any(p.kind == "blob" for p in problems)


def test_pinned_key_mismatch(vault: Vault, filled: list[IngestResult], run_main) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_main("verify", "--pin", "00" * 32)
    assert code == 1
    assert "pinned" in out
    fingerprint = vault.signing_key().public_key_fingerprint()
    code, _, _ = run_main("verify", "--pin", fingerprint)
    assert code == 0
