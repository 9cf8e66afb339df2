"""The ledger in the database: append-only, contiguous under concurrency, provable."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from testigo.vault import ledger, merkle
from testigo.vault.checkpoint import verify_checkpoint
from testigo.vault.ingest import Acquired, ingest_paths
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault


def _append(vault: Vault, n: int, actor: str = "test") -> list[ledger.AppendedEntry]:
    with vault.transaction() as session:
        return ledger.append_entries(
            session,
            [ledger.NewEntry("test.note", actor, [f"note:{i}"], {"i": i}) for i in range(n)],
        )


@pytest.mark.parametrize(
    "table", ["ledger_entries", "ledger_nodes", "checkpoints", "evidence_items"]
)
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
def test_rows_cannot_be_updated_or_deleted(
    vault: Vault, table: str, statement: str, tmp_path: Path
) -> None:
    (tmp_path / "f.txt").write_text("evidence")
    ingest_paths(vault, [tmp_path / "f.txt"], Acquired(actor="test"))
    _append(vault, 3)
    vault.checkpoint()
    column = {"ledger_entries": "actor", "ledger_nodes": "hash", "checkpoints": "note"}.get(
        table, "media_type"
    )
    with pytest.raises(DBAPIError, match="append-only"), vault.engine.begin() as conn:
        conn.execute(text(statement.format(t=table, c=column)))


def test_entries_are_canonical_and_numbered(vault: Vault) -> None:
    appended = _append(vault, 4)
    assert [a.seq for a in appended] == [1, 2, 3, 4]  # entry 0 is the vault's genesis
    for a in appended:
        data = json.loads(a.body)
        assert data["seq"] == a.seq and data["type"] == "test.note" and data["v"] == 1
        assert a.leaf_hash == merkle.leaf_hash(a.body)
        assert a.body == json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def test_concurrent_appends_stay_contiguous(vault: Vault) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for _ in range(10):
                _append(vault, 3, actor=f"w{k}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with vault.reading() as session:
        assert ledger.tree_size(session) == 1 + 4 * 10 * 3
    vault.checkpoint()
    assert verify_vault(vault).ok


def test_rolled_back_append_does_not_poison_the_tree(vault: Vault) -> None:
    _append(vault, 2)
    with pytest.raises(RuntimeError), vault.transaction() as session:
        ledger.append_entries(session, [ledger.NewEntry("test.note", "x", [], {"lost": True})])
        raise RuntimeError("abort")
    _append(vault, 3)
    vault.checkpoint()
    report = verify_vault(vault)
    assert report.ok, report.problems
    assert report.tree_size == 6


def test_inclusion_and_consistency_against_signed_checkpoints(vault: Vault) -> None:
    _append(vault, 5)
    first = vault.checkpoint()
    appended = _append(vault, 9)
    second = vault.checkpoint()
    verifier = vault.signing_key().verifier()
    cp1 = verify_checkpoint(first.note, [verifier])
    cp2 = verify_checkpoint(second.note, [verifier])
    with vault.reading() as session:
        for a in appended:
            proof = ledger.prove_inclusion(session, a.seq, cp2.size)
            assert merkle.verify_inclusion(a.seq, cp2.size, a.leaf_hash, proof, cp2.root)
        proof = ledger.prove_consistency(session, cp1.size, cp2.size)
    assert merkle.verify_consistency(cp1.size, cp2.size, cp1.root, cp2.root, proof)


def test_checkpoint_reused_when_nothing_changed(vault: Vault) -> None:
    a = vault.checkpoint()
    b = vault.checkpoint()
    assert a.id == b.id
    _append(vault, 1)
    c = vault.checkpoint()
    assert c.tree_size == a.tree_size + 1


def test_key_file_is_private(vault: Vault) -> None:
    path = vault.settings.signing_key_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "PRIVATE" not in repr(vault.signing_key())


def test_log_commands(vault: Vault, tmp_path: Path, run_main) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "a.txt"
    src.write_text("hello")
    code, out, _ = run_main("ingest", "--json", str(src))
    assert code == 0
    sha = json.loads(out)["ingested"][0]["sha256"]

    code, out, _ = run_main("log", "show", "--json")
    assert code == 0
    entries = json.loads(out)
    assert [e["entry"]["type"] for e in entries] == ["vault.init", "evidence.ingest"]

    code, out, _ = run_main("log", "prove", sha[:12], "--json")
    assert code == 0
    proof = json.loads(out)
    assert proof["verified"] is True and proof["subject"]["sha256"] == sha
    entry = proof["entries"][0]
    root = bytes.fromhex(proof["checkpoint"]["root"])
    assert merkle.verify_inclusion(
        entry["seq"],
        proof["checkpoint"]["size"],
        bytes.fromhex(entry["leaf_hash"]),
        [bytes.fromhex(h) for h in entry["proof"]],
        root,
    )

    code, out, _ = run_main("log", "consistency", "1", "2", "--json")
    assert code == 0 and json.loads(out)["verified"] is True

    code, out, _ = run_main("log", "checkpoint")
    assert code == 0 and out.startswith(vault.origin + "\n2\n")

    code, _, err = run_main("log", "consistency", "2", "1")
    assert code == 2 and "sizes must satisfy" in err
    code, _, err = run_main("log", "prove", "deadbeefdead")
    assert code == 2 and "no item has a SHA-256 starting with deadbeefdead" in err
    code, _, err = run_main("log", "prove", "xyz")
    assert code == 2 and "neither an item id nor a SHA-256" in err
