"""Derived items name their parents, join their incidents, and verify like any other item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testigo.db.models import LedgerEntry
from testigo.errors import NotFoundError, UsageError
from testigo.records.incidents import create_incident
from testigo.vault.derive import parents_of, store_derived
from testigo.vault.ingest import Acquired, ingest_paths
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault


def test_derived_item_is_ledgered_with_parents(vault: Vault, tmp_path: Path) -> None:
    incident = create_incident(vault, "Alder Street", actor="t")
    src = tmp_path / "video.mp4"
    src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"v" * 500)
    [original] = ingest_paths(vault, [src], Acquired(actor="t", incident_id=incident.id)).ingested
    derived = store_derived(
        vault,
        b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n",
        parents=[original.item_id],
        derivation="transcript",
        params={"engine": "test", "language": "en"},
        actor="worker:1",
    )
    assert derived.media_type == "text/vtt"
    assert parents_of(vault, derived.item_id) == [(original.item_id, "transcript")]
    with vault.reading() as session:
        entry = session.get(LedgerEntry, derived.ledger_seq)
        assert entry is not None
        body = json.loads(entry.body)
    assert body["type"] == "evidence.derive"
    assert body["params"]["parents"] == [original.sha256]
    assert body["params"]["parameters"] == {"engine": "test", "language": "en"}
    assert f"sha256:{original.sha256}" in body["subjects"]
    again = store_derived(
        vault,
        b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n",
        parents=[original.item_id],
        derivation="transcript",
        params={"engine": "test", "language": "en"},
        actor="worker:1",
    )
    assert again.duplicate and again.item_id == derived.item_id
    vault.checkpoint()
    assert verify_vault(vault).ok


def test_derived_item_refusals(vault: Vault) -> None:
    with pytest.raises(UsageError):
        store_derived(vault, b"x", parents=[], derivation="t", params={}, actor="a")
    with pytest.raises(NotFoundError):
        store_derived(vault, b"x", parents=[42], derivation="t", params={}, actor="a")
    assert list(vault.blobs.iter_digests()) == []
