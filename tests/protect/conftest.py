"""Clips with moving faces, made once per session; helpers to put them in a vault and read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from testigo.db.models import EvidenceItem, LedgerEntry
from testigo.vault.ingest import Acquired, Candidate, ingest_file
from testigo.vault.service import Vault

from .facesynth import FaceClip, make_face_clip


@pytest.fixture(scope="session")
def protect_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("protect-media")


@pytest.fixture(scope="session")
def face_clip(protect_media: Path) -> FaceClip:
    """2.5 s, 320x240, 20 fps, two heads crossing, one partly hidden for six frames, a tone."""
    return make_face_clip(protect_media / "faces.mp4", audio_tone=True)


def ingest(vault: Vault, path: Path) -> int:
    result = ingest_file(vault, Candidate(path, path.stat().st_size), Acquired(actor="test:alice"))
    return result.item_id


def fetch(vault: Vault, sha256: str, target: Path) -> Path:
    with vault.blobs.open(sha256) as source:
        target.write_bytes(source.read())
    return target


def counts(vault: Vault) -> tuple[int, int]:
    """(items, ledger entries): both unchanged after a refused redaction."""
    with vault.reading() as session:
        items = session.scalar(select(func.count()).select_from(EvidenceItem)) or 0
        entries = session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
    return int(items), int(entries)


def ledger_body(vault: Vault, seq: int) -> dict[str, Any]:
    with vault.reading() as session:
        row = session.get(LedgerEntry, seq)
        assert row is not None
        return dict(json.loads(row.body))
