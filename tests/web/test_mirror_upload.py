"""A resumable upload whose last chunk arrives while the blob mirror is down: answered 503,
nothing recorded, and the same chunk completes it once the mirror is back."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from testigo.config import Settings
from testigo.db.models import EvidenceItem
from testigo.vault.service import Vault, open_vault
from testigo.web import accounts
from testigo.web.app import create_app


def test_upload_completion_waits_for_the_mirror(
    vault: Vault, settings: Settings, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    mirror = tmp_path / "mirror"
    monkeypatch.setenv("TESTIGO_BLOBS_MIRROR_URL", str(mirror))
    mirrored = dataclasses.replace(settings, blobs_mirror_url=str(mirror))
    user, _ = accounts.create_user(
        vault, "carla", "contributor", actor="test", password="correct horse battery"
    )
    _, token = accounts.create_token(vault, user.id, "tests", actor="test")
    auth = {"Authorization": f"Bearer {token}"}
    data = bytes(range(256)) * 400
    accounts.forget_cached()
    with TestClient(create_app(mirrored)) as client:
        created = client.post(
            "/api/v1/uploads", json={"name": "clip.bin", "size": len(data)}, headers=auth
        )
        assert created.status_code == 201, created.text
        url = created.json()["location"]
        head = {**auth, "Content-Type": "application/offset+octet-stream"}
        first = client.patch(url, content=data[:50_000], headers={**head, "Upload-Offset": "0"})
        assert first.status_code == 200
        mirror.rename(tmp_path / "mirror-away")
        refused = client.patch(
            url, content=data[50_000:], headers={**head, "Upload-Offset": "50000"}
        )
        assert refused.status_code == 503, refused.text
        assert "mirror" in refused.json()["error"]
        with vault.reading() as session:
            count = session.execute(select(func.count()).select_from(EvidenceItem)).scalar()
        assert count == 0
        (tmp_path / "mirror-away").rename(mirror)
        # Every byte had arrived; the client sends the rest from where HEAD says (nothing), which
        # asks for the completion again.
        offset = client.head(url, headers=auth).headers["Upload-Offset"]
        assert offset == str(len(data))
        done = client.patch(url, content=b"", headers={**head, "Upload-Offset": offset})
        assert done.status_code == 200 and done.json()["complete"], done.text
        digest = hashlib.sha256(data).hexdigest()
        assert (mirror / "sha256" / digest[:2] / digest[2:4] / digest).read_bytes() == data
    accounts.forget_cached()
    reopened = open_vault(mirrored)
    try:
        from testigo.vault.verify import verify_vault

        assert verify_vault(reopened).ok
    finally:
        reopened.dispose()
