"""The whole vault on S3-compatible storage: ingest, verify, and tampering caught."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testigo.config import Settings
from testigo.vault.ingest import Acquired, ingest_paths
from testigo.vault.s3store import S3BlobStore
from testigo.vault.service import Vault, init_vault, open_vault
from testigo.vault.verify import verify_vault

from .conftest import MotoS3Server

pytestmark = pytest.mark.slow


@pytest.fixture
def s3_vault(
    settings: Settings, env: dict[str, str], s3_env: MotoS3Server, s3_prefix: str
) -> Iterator[Vault]:
    s3_settings = dataclasses.replace(settings, blobs_url=f"s3://{s3_env.bucket}/{s3_prefix}")
    init_vault(s3_settings)
    vault = open_vault(s3_settings)
    try:
        yield vault
    finally:
        vault.dispose()


def test_ingest_and_verify_on_s3(s3_vault: Vault, tmp_path: Path, s3_env: MotoS3Server) -> None:
    small = tmp_path / "statement.txt"
    small.write_text("I saw the window broken at 8:40.")
    large = tmp_path / "recording.bin"
    large.write_bytes(os.urandom(12 * 1024 * 1024))
    report = ingest_paths(s3_vault, [small, large], Acquired(actor="test:s3"))
    assert len(report.ingested) == 2
    assert isinstance(s3_vault.blobs, S3BlobStore)
    assert verify_vault(s3_vault).ok

    client = s3_env.client()
    digest = report.ingested[0].sha256
    client.put_object(
        Bucket=s3_env.bucket, Key=s3_vault.blobs.key_for(digest), Body=b"I saw nothing."
    )
    problems = verify_vault(s3_vault).problems
    assert [p.kind for p in problems] == ["blob"]
    assert "altered" in problems[0].message
