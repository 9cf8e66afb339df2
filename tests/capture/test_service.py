"""The chunk path: acknowledgements, refusals, the hash chain, assembly and partial recordings."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from testigo.capture import chain, recording, service
from testigo.capture.errors import (
    BadChunkRequest,
    ChainBroken,
    ChecksumMismatch,
    ChunkConflict,
    ChunkTooLarge,
    OffsetMismatch,
    SessionClosed,
    TokenRefused,
    TokenUsed,
    UploadKeyRefused,
)
from testigo.capture.models import CaptureChunk, CaptureSession, CaptureToken
from testigo.db.models import EvidenceItem, IncidentItem, ItemParent
from testigo.jobs.models import Job
from testigo.vault import ledger
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import sha
from .media import decoded_frames, make_webm, split_clusters


def send(vault: Vault, opened: tuple[str, str], index: int, offset: int, data: bytes, **kw: Any):  # type: ignore[no-untyped-def]
    public_id, key = opened
    return service.append_chunk(
        vault,
        public_id,
        key,
        index=index,
        offset=offset,
        data=data,
        sha256_header=kw.pop("digest", sha(data)),
        duration_ms=kw.pop("duration_ms", 2000),
    )


def send_all(vault: Vault, opened: tuple[str, str], parts: list[bytes]) -> list[service.ChunkAck]:
    acks, offset = [], 0
    for index, part in enumerate(parts):
        acks.append(send(vault, opened, index, offset, part))
        offset += len(part)
    return acks


def test_token_opens_one_session_only(vault: Vault) -> None:
    token = service.create_token(vault, actor="test:alice")
    service.open_session(vault, token.token, mime_type="video/webm")
    with pytest.raises(TokenUsed):
        service.open_session(vault, token.token, mime_type="video/webm")
    with pytest.raises(TokenRefused):
        service.open_session(vault, "not-a-token", mime_type="video/webm")
    with vault.reading() as session:
        row = session.scalars(select(CaptureToken)).one()
        assert row.sessions_opened == 1 and row.token_hash != token.token


def test_expired_token_is_refused(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    token = service.create_token(vault, actor="test:alice", hours=1)
    monkeypatch.setattr(ledger, "utc_now", lambda: "2999-01-01T00:00:00.000000Z")
    with pytest.raises(TokenRefused, match="expired"):
        service.open_session(vault, token.token, mime_type="video/webm")


def test_open_refuses_non_media_type(vault: Vault) -> None:
    token = service.create_token(vault, actor="test:alice")
    with pytest.raises(BadChunkRequest):
        service.open_session(vault, token.token, mime_type="text/html")


def test_chunks_are_chained_ledgered_and_acknowledged(
    vault: Vault, opened: tuple[str, str]
) -> None:
    parts = split_clusters(make_webm())
    acks = send_all(vault, opened, parts)
    public_id = opened[0]
    expected = chain.chain_of(public_id, [sha(p) for p in parts])
    assert [a.chain_hash for a in acks] == expected
    assert acks[-1].saved_ms == 2000 * len(parts)
    assert acks[-1].next_offset == sum(len(p) for p in parts)
    with vault.reading() as session:
        capture = session.scalars(select(CaptureSession)).one()
        assert capture.chain_head == expected[-1] and capture.chunk_count == len(parts)
        for ack in acks:
            entry = ledger.get_entry(session, ack.ledger_seq)
            assert entry.entry_type == "capture.chunk"
            assert f'"chain":"{ack.chain_hash}"' in entry.body.decode()
    assert verify_vault(vault).ok


def test_exact_resend_gets_the_same_ack(vault: Vault, opened: tuple[str, str]) -> None:
    parts = split_clusters(make_webm())
    first = send(vault, opened, 0, 0, parts[0])
    second = send(vault, opened, 1, len(parts[0]), parts[1])
    again = send(vault, opened, 0, 0, parts[0])
    assert again.duplicate and not first.duplicate
    assert (again.chain_hash, again.ledger_seq, again.saved_ms) == (
        first.chain_hash,
        first.ledger_seq,
        first.saved_ms,
    )
    assert send(vault, opened, 1, len(parts[0]), parts[1]).chain_hash == second.chain_hash
    with vault.reading() as session:
        assert len(session.scalars(select(CaptureChunk)).all()) == 2


def test_forged_resend_is_refused(vault: Vault, opened: tuple[str, str]) -> None:
    send(vault, opened, 0, 0, b"first chunk")
    with pytest.raises(ChunkConflict) as refused:
        send(vault, opened, 0, 0, b"other bytes")
    assert refused.value.status == 409
    assert recording.partial_recording(vault, opened[0]) == b"first chunk"


@pytest.mark.parametrize(
    ("index", "offset"),
    [(1, 0), (0, 5), (2, 11), (1, 12), (1, 10)],
    ids=["skipped-index-offset-ok", "index-0-wrong-offset", "gap", "offset-past", "offset-short"],
)
def test_wrong_position_is_refused_with_expected_offset(
    vault: Vault, opened: tuple[str, str], index: int, offset: int
) -> None:
    send(vault, opened, 0, 0, b"first chunk")  # 11 bytes
    with pytest.raises((OffsetMismatch, ChunkConflict)) as refused:
        send(vault, opened, index, offset, b"second")
    assert refused.value.status == 409
    assert refused.value.details["expected_offset"] == 11
    assert refused.value.details["expected_index"] == 1
    assert service.get_session(vault, opened[0]).bytes_received == 11


def test_size_hash_and_key_refusals(
    vault: Vault, opened: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTIGO_CAPTURE_MAX_CHUNK_BYTES", "100")
    with pytest.raises(ChunkTooLarge) as too_big:
        send(vault, opened, 0, 0, b"x" * 101)
    assert too_big.value.status == 413
    data = b"a chunk that got cut short"
    with pytest.raises(ChecksumMismatch) as truncated:
        send(vault, opened, 0, 0, data[:10], digest=sha(data))
    assert truncated.value.status == 460
    with pytest.raises(BadChunkRequest):
        send(vault, opened, 0, 0, data, digest="abc")
    with pytest.raises(BadChunkRequest):
        send(vault, opened, 0, 0, b"")
    with pytest.raises(UploadKeyRefused):
        service.append_chunk(
            vault, opened[0], "wrong", index=0, offset=0, data=data, sha256_header=sha(data)
        )
    assert service.get_session(vault, opened[0]).chunk_count == 0
    assert verify_vault(vault).ok


def test_base64_checksum_header_like_tus(vault: Vault, opened: tuple[str, str]) -> None:
    import base64

    data = b"chunk"
    header = "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()
    ack = send(vault, opened, 0, 0, data, digest=header)
    assert ack.sha256 == sha(data)


def test_finish_assembles_checks_chain_and_queues_analysis(
    vault: Vault, opened: tuple[str, str]
) -> None:
    whole = make_webm()
    parts = split_clusters(whole)
    send_all(vault, opened, parts)
    with pytest.raises(OffsetMismatch):
        recording.finish(vault, opened[0], opened[1], expected_chunks=len(parts) + 1)
    done = recording.finish(vault, opened[0], opened[1], expected_chunks=len(parts))
    assert done.status == "finished" and done.sha256 == sha(whole)
    assert done.chain_head == chain.chain_of(opened[0], [sha(p) for p in parts])[-1]
    with vault.reading() as session:
        item = session.get(EvidenceItem, done.item_id)
        assert item is not None and item.media_type == "video/webm"
        parents = session.scalars(
            select(ItemParent.parent_id).where(ItemParent.item_id == item.id)
        ).all()
        assert len(parents) == len(parts)
        assert session.scalars(select(Job).where(Job.item_id == item.id)).first() is not None
    blob = vault.blobs.open(done.sha256)
    assert decoded_frames(blob.read()) == 60
    with pytest.raises(SessionClosed):
        send(vault, opened, len(parts), len(whole), b"late")
    # finishing twice answers with the same result
    assert recording.finish(vault, opened[0], opened[1]).item_id == done.item_id
    report = verify_vault(vault)
    assert report.ok, report.problems


def test_partial_recording_plays_up_to_the_last_chunk(
    vault: Vault, opened: tuple[str, str]
) -> None:
    parts = split_clusters(make_webm())
    send_all(vault, opened, parts[:3])
    partial = recording.partial_recording(vault, opened[0])
    assert partial == b"".join(parts[:3])
    assert 0 < decoded_frames(partial) < 60


def test_abandoned_capture_keeps_a_partial_item_attached_to_incident(
    vault: Vault, opened: tuple[str, str]
) -> None:
    from testigo.vault.ingest import Acquired  # noqa: F401  (incident creation below)

    parts = split_clusters(make_webm())
    send_all(vault, opened, parts[:2])
    with vault.transaction() as session:
        from testigo.db.models import Incident

        incident = Incident(title="Car stop", created_at=ledger.utc_now(), created_by="test")
        session.add(incident)
        session.flush()
        incident_id = incident.id
    recording.attach_to_incident(vault, opened[0], incident_id, actor="web:alice")
    closed = recording.close(vault, opened[0], status="abandoned", actor="web:alice")
    assert closed.status == "abandoned" and closed.chunks == 2
    with vault.reading() as session:
        assert session.get(IncidentItem, (incident_id, closed.item_id)) is not None
    assert verify_vault(vault).ok


def test_tampered_chunk_breaks_the_recording(vault: Vault, opened: tuple[str, str]) -> None:
    parts = split_clusters(make_webm())
    send_all(vault, opened, parts[:2])
    with vault.reading() as session:
        chunk = session.scalars(select(CaptureChunk).where(CaptureChunk.idx == 1)).one()
    path = vault.blobs.path_for(chunk.sha256)  # type: ignore[attr-defined]
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(ChainBroken):
        recording.partial_recording(vault, opened[0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=12))
def test_chain_commits_to_order_and_content(parts: list[bytes]) -> None:
    hashes = [sha(p) for p in parts]
    links = chain.chain_of("s", hashes)
    assert len(set(links)) == len(links)
    if len(parts) > 1 and hashes[0] != hashes[1]:
        swapped = [hashes[1], hashes[0], *hashes[2:]]
        assert chain.chain_of("s", swapped)[-1] != links[-1]
    assert chain.chain_of("other", hashes)[-1] != links[-1]


def test_concurrent_sessions_and_racing_resends(vault: Vault) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sessions = []
    for _ in range(6):
        token = service.create_token(vault, actor="test")
        opened_session = service.open_session(vault, token.token, mime_type="video/webm")
        sessions.append((opened_session.public_id, opened_session.upload_key))

    def phone(pair: tuple[str, str]) -> list[str]:
        offset, links = 0, []
        for index in range(5):
            data = f"{pair[0]}:{index}".encode() * 100
            links.append(send(vault, pair, index, offset, data).chain_hash)
            offset += len(data)
        return links

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(phone, sessions))
    for pair, links in zip(sessions, results, strict=True):
        hashes = [sha(f"{pair[0]}:{i}".encode() * 100) for i in range(5)]
        assert links == chain.chain_of(pair[0], hashes)

    target = sessions[0]
    data = b"raced" * 50
    offset = service.get_session(vault, target[0]).bytes_received
    with ThreadPoolExecutor(4) as pool:
        acks = list(pool.map(lambda _: send(vault, target, 5, offset, data), range(4)))
    assert len({a.chain_hash for a in acks}) == 1
    assert sum(not a.duplicate for a in acks) == 1
    assert service.get_session(vault, target[0]).chunk_count == 6
    assert verify_vault(vault).ok


def test_chunks_refused_after_finish_are_not_stored(vault: Vault, opened: tuple[str, str]) -> None:
    """A finished (or closed) session takes nothing: a refused chunk leaves no file behind."""
    first = b"the only chunk" * 10
    send(vault, opened, 0, 0, first)
    recording.finish(vault, opened[0], opened[1], expected_chunks=1)
    stored = set(vault.blobs.iter_digests())
    for n in range(5):
        late = bytes([n]) * 5000
        with pytest.raises(SessionClosed):
            send(vault, opened, 1 + n, len(first), late)
    assert set(vault.blobs.iter_digests()) == stored


def test_chunks_after_a_close_by_another_process_store_at_most_one(
    vault: Vault, opened: tuple[str, str]
) -> None:
    """The session is closed behind this process's back (the CLI): the first chunk after it is
    refused by the commit, every later one before anything is written."""
    first = b"before the close" * 10
    send(vault, opened, 0, 0, first)
    with vault.transaction() as session:
        capture = session.scalar(
            select(CaptureSession).where(CaptureSession.public_id == opened[0])
        )
        assert capture is not None
        capture.status = "abandoned"
    stored = set(vault.blobs.iter_digests())
    for n in range(4):
        with pytest.raises(SessionClosed):
            send(vault, opened, 1, len(first), bytes([n + 7]) * 3000)
    assert len(set(vault.blobs.iter_digests()) - stored) <= 1
