"""Captures whose device went silent are closed by the server as interrupted (partial)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from testigo.capture import pacer, recording, service, views
from testigo.capture.errors import ChainBroken, SessionClosed
from testigo.capture.models import CaptureSession
from testigo.db.models import EvidenceItem, LedgerEntry
from testigo.jobs.models import Job
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import sha
from .media import decoded_frames, make_webm, split_clusters


def send(vault: Vault, opened: tuple[str, str], index: int, offset: int, data: bytes) -> Any:
    return service.append_chunk(
        vault,
        opened[0],
        opened[1],
        index=index,
        offset=offset,
        data=data,
        sha256_header=sha(data),
        duration_ms=1000,
    )


def send_parts(vault: Vault, opened: tuple[str, str], parts: list[bytes], start: int = 0) -> int:
    offset = sum(len(p) for p in parts[:start])
    for index in range(start, len(parts)):
        send(vault, opened, index, offset, parts[index])
        offset += len(parts[index])
    return offset


def entries_of(vault: Vault, entry_type: str) -> list[dict[str, Any]]:
    """The bodies of the ledger entries of one type, in order."""
    with vault.reading() as session:
        rows = session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.entry_type == entry_type)
            .order_by(LedgerEntry.seq)
        )
        return [json.loads(row.body) for row in rows]


def status_of(vault: Vault, public_id: str) -> str:
    return service.get_session(vault, public_id).status


def test_silent_capture_is_closed_as_a_playable_partial_recording(
    vault: Vault, opened: tuple[str, str]
) -> None:
    parts = split_clusters(make_webm(seconds=5.0))
    received = parts[:-1]  # the phone was taken before the last piece
    offset = send_parts(vault, opened, received)
    now = datetime.now(UTC)

    early = recording.close_idle(vault, idle_seconds=600, now=now + timedelta(seconds=599))
    assert early.closed == [] and status_of(vault, opened[0]) in service.OPEN

    swept = recording.close_idle(vault, idle_seconds=600, now=now + timedelta(seconds=660))
    assert [c.public_id for c in swept.closed] == [opened[0]] and swept.failed == {}
    done = swept.closed[0]
    assert done.status == "interrupted" and done.chunks == len(received)
    assert status_of(vault, opened[0]) == "interrupted"

    # The recording holds exactly what was acknowledged, checked against the chain, and plays.
    with vault.reading() as session:
        item = session.get(EvidenceItem, done.item_id)
        assert item is not None and item.kind == "capture"
        assert item.details["partial"] is True
        assert session.scalars(select(Job).where(Job.item_id == item.id)).first() is not None
    with vault.blobs.open(item.sha256) as handle:
        assembled = handle.read()
    assert assembled == b"".join(received)
    assert decoded_frames(assembled) > 0
    assert decoded_frames(assembled) < decoded_frames(b"".join(parts))

    # The closure is ledgered with its reason, and the vault verifies.
    (closure,) = entries_of(vault, "capture.interrupt")
    assert closure["params"]["session"] == opened[0]
    assert closure["params"]["chunks"] == len(received)
    assert closure["params"]["sha256"] == item.sha256
    assert closure["params"]["reason"].startswith("silent for ")
    assert int(closure["params"]["reason"].split()[2]) >= 660
    assert f"capture:{opened[0]}" in closure["subjects"]
    assert verify_vault(vault).ok
    # The capture's page says how it ended, from that entry.
    _, detail = views.session_detail(vault, opened[0])
    assert detail["status"] == "interrupted"
    assert detail["closed"]["type"] == "capture.interrupt"
    assert detail["closed"]["reason"] == closure["params"]["reason"]
    assert detail["closed"]["actor"] == recording.IDLE_ACTOR

    # A chunk sent after the closure is refused and changes nothing.
    with pytest.raises(SessionClosed, match="interrupted"):
        send(vault, opened, len(received), offset, parts[-1])
    assert service.get_session(vault, opened[0]).chunk_count == len(received)
    # A second sweep has nothing left to close.
    again = recording.close_idle(vault, idle_seconds=600, now=now + timedelta(seconds=9999))
    assert again.closed == []
    assert len(entries_of(vault, "capture.interrupt")) == 1


def test_capture_that_keeps_sending_is_not_closed(vault: Vault, opened: tuple[str, str]) -> None:
    parts = split_clusters(make_webm(seconds=4.0))
    offset = 0
    for index, part in enumerate(parts):
        send(vault, opened, index, offset, part)
        offset += len(part)
        # Each sweep happens 50 s after the newest chunk: never 60 s of silence.
        swept = recording.close_idle(
            vault, idle_seconds=60, now=datetime.now(UTC) + timedelta(seconds=50)
        )
        assert swept.closed == []
        assert status_of(vault, opened[0]) == "live"
    assert entries_of(vault, "capture.interrupt") == []


def test_chunk_arriving_while_closing_keeps_the_capture_open(
    vault: Vault, opened: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = split_clusters(make_webm(seconds=4.0))
    send(vault, opened, 0, 0, parts[0])
    real_store = recording._prepare_recording

    def store_then_device_speaks(*args: Any, **kwargs: Any) -> Any:
        result = real_store(*args, **kwargs)
        if service.get_session(vault, opened[0]).chunk_count == 1:
            send(vault, opened, 1, len(parts[0]), parts[1])  # the phone is back
        return result

    monkeypatch.setattr(recording, "_prepare_recording", store_then_device_speaks)
    time.sleep(0.01)
    # Silent since the first chunk; the second arrives while the recording is being assembled.
    swept = recording.close_idle(vault, idle_seconds=0.001, now=datetime.now(UTC))
    assert swept.closed == []
    capture = service.get_session(vault, opened[0])
    assert capture.status == "live" and capture.chunk_count == 2
    send(vault, opened, 2, len(parts[0]) + len(parts[1]), parts[2])  # and may go on
    assert entries_of(vault, "capture.interrupt") == []
    # The recording assembled for the close that gave up was never recorded.
    assert not [
        e
        for e in entries_of(vault, "evidence.derive")
        if e["params"]["derivation"] == "capture.assemble"
    ]


def test_capture_that_never_sent_a_chunk_is_closed_without_a_recording(vault: Vault) -> None:
    token = service.create_token(vault, actor="test:alice")
    opened = service.open_session(vault, token.token, mime_type="video/webm")
    swept = recording.close_idle(
        vault, idle_seconds=30, now=datetime.now(UTC) + timedelta(seconds=31)
    )
    assert [c.public_id for c in swept.closed] == [opened.public_id]
    assert swept.closed[0].item_id is None and swept.closed[0].chunks == 0
    (closure,) = entries_of(vault, "capture.interrupt")
    assert closure["params"]["item"] is None and closure["params"]["last_chunk_at"] is None
    assert verify_vault(vault).ok


def test_idle_setting_is_read_from_the_environment(
    vault: Vault, opened: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    send(vault, opened, 0, 0, b"a piece")
    later = datetime.now(UTC) + timedelta(seconds=45)
    monkeypatch.setenv("TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS", "0")  # off
    assert recording.close_idle(vault, now=later).closed == []
    monkeypatch.setenv("TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS", "60")
    assert recording.close_idle(vault, now=later).closed == []
    monkeypatch.setenv("TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS", "40")
    swept = recording.close_idle(vault, now=later)
    assert swept.idle_seconds == 40 and len(swept.closed) == 1


def test_server_thread_closes_a_silent_capture_by_itself(
    vault: Vault, opened: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS", "1")
    part = split_clusters(make_webm(seconds=3.0))[0]
    send(vault, opened, 0, 0, part)
    deadline = time.monotonic() + 30
    while status_of(vault, opened[0]) != "interrupted" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status_of(vault, opened[0]) == "interrupted"
    assert entries_of(vault, "capture.interrupt")
    assert verify_vault(vault).ok


def test_server_thread_closes_a_capture_that_never_sent_a_chunk(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS", "1")
    token = service.create_token(vault, actor="test:alice")
    opened = service.open_session(vault, token.token, mime_type="video/webm")
    deadline = time.monotonic() + 30
    while status_of(vault, opened.public_id) != "interrupted" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status_of(vault, opened.public_id) == "interrupted"


def test_watch_runs_the_thread_only_while_a_capture_is_open(vault: Vault) -> None:
    idle = pacer.CheckpointPacer(vault)
    idle.watch()
    assert idle._thread is None  # nothing open: nothing to watch
    token = service.create_token(vault, actor="test:alice")
    service.open_session(vault, token.token, mime_type="video/webm")
    watching = pacer.CheckpointPacer(vault)
    watching.watch()
    assert watching._thread is not None and watching._thread.is_alive()
    with vault.reading() as session:
        assert session.scalars(select(CaptureSession)).one().status in service.OPEN
    watching.stop()
    assert watching._thread is None or not watching._thread.is_alive()
    watching.watch()  # a stopped pacer stays stopped
    assert watching._thread is None or not watching._thread.is_alive()


def test_server_start_watches_captures_left_open(
    vault: Vault, settings: Any, opened: tuple[str, str]
) -> None:
    from fastapi.testclient import TestClient

    from testigo.web.app import create_app

    with TestClient(create_app(settings)) as client:
        app_vault = client.app.state.vault  # type: ignore[attr-defined]
        thread = pacer.pacer_for(app_vault)._thread
        assert thread is not None and thread.is_alive()


def test_a_capture_that_cannot_be_closed_is_retried_after_an_idle_period_not_every_sweep(
    vault: Vault, opened: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = split_clusters(make_webm(seconds=2.0))
    send(vault, opened, 0, 0, parts[0])
    monkeypatch.setenv("TESTIGO_CAPTURE_IDLE_CLOSE_SECONDS", "0.001")
    attempts: list[str] = []

    def broken(vault: Vault, public_id: str, **kwargs: Any) -> Any:
        attempts.append(public_id)
        raise ChainBroken("the assembled recording does not end at the session's chain head")

    monkeypatch.setattr(recording, "_close", broken)
    now = [1000.0]
    watcher = pacer.CheckpointPacer(vault, clock=lambda: now[0], background=False)
    time.sleep(0.01)
    assert watcher.sweep() == 1 and attempts == [opened[0]]
    now[0] += 0.0005  # within the idle period: not tried again
    watcher.sweep()
    assert attempts == [opened[0]]
    now[0] += 1.0  # a whole idle period later: tried again
    watcher.sweep()
    assert attempts == [opened[0], opened[0]]
    assert service.get_session(vault, opened[0]).status == "live"
