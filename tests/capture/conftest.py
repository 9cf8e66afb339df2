"""Capture fixtures: short stale/checkpoint intervals so background threads end quickly."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from testigo.capture import pacer, service
from testigo.vault.service import Vault


@pytest.fixture(autouse=True)
def quick_capture_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TESTIGO_CAPTURE_CHECKPOINT_SECONDS", "0.5")
    monkeypatch.setenv("TESTIGO_CAPTURE_STALE_SECONDS", "2")
    yield


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def vault(vault: Vault) -> Iterator[Vault]:
    """The shared vault, whose capture thread is stopped before the vault is closed (so the
    thread is never in the middle of a transaction when the test's database is dropped)."""
    yield vault
    pacer.stop_pacing(vault)


@pytest.fixture
def opened(vault: Vault) -> tuple[str, str]:
    """A live session: (public id, upload key)."""
    token = service.create_token(vault, actor="test:alice", label="test link")
    session = service.open_session(vault, token.token, mime_type="video/webm;codecs=vp8")
    return session.public_id, session.upload_key


@pytest.fixture
def client(vault: Vault, settings):  # type: ignore[no-untyped-def]
    """The web app on this test's vault."""
    from fastapi.testclient import TestClient

    from testigo.web import accounts
    from testigo.web.app import create_app

    accounts.forget_cached()
    with TestClient(create_app(settings)) as test_client:
        yield test_client
    accounts.forget_cached()


@pytest.fixture
def investigator(vault: Vault) -> dict[str, str]:
    """Headers of an investigator's API token."""
    from testigo.web import accounts

    user, _ = accounts.create_user(
        vault, "ines", "investigator", actor="test", password="correct horse battery"
    )
    _, token = accounts.create_token(vault, user.id, "tests", actor="test")
    return {"Authorization": f"Bearer {token}"}
