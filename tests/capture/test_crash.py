"""`kill -9` of the server during a live capture loses nothing it acknowledged."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from testigo.capture import recording, service
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import sha
from .media import decoded_frames, make_webm, split_clusters
from .server import ServerProcess

API = "/api/v1/capture/sessions"


@pytest.mark.slow
def test_kill_9_during_live_capture_loses_no_acknowledged_chunk(
    vault: Vault, env: dict[str, str]
) -> None:
    parts = split_clusters(make_webm(seconds=30, size=(320, 240)))
    made = service.create_token(vault, actor="test")
    server = ServerProcess(env)
    server.start()
    acked: dict[int, str] = {}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            opened = client.post(API, json={"token": made.token, "mime_type": "video/webm"})
            sid, key = opened.json()["id"], {"Capture-Key": opened.json()["upload_key"]}
            stop = threading.Event()

            def sender() -> None:
                offset = 0
                for index, part in enumerate(parts):
                    if stop.is_set():
                        return
                    try:
                        response = client.patch(
                            f"{API}/{sid}",
                            content=part,
                            headers={
                                **key,
                                "Chunk-Index": str(index),
                                "Upload-Offset": str(offset),
                                "Chunk-SHA256": sha(part),
                                "Chunk-Duration-Ms": "1000",
                            },
                        )
                    except httpx.HTTPError:
                        return
                    if response.status_code != 200:
                        return
                    acked[index] = response.json()["chain_hash"]
                    offset += len(part)

            thread = threading.Thread(target=sender)
            thread.start()
            deadline = time.monotonic() + 60
            while len(acked) < 8 and time.monotonic() < deadline:
                time.sleep(0.01)
            server.kill9()  # while chunks are in flight
            stop.set()
            thread.join(30)
        assert len(acked) >= 8
        # Every acknowledged chunk is there, with the chain the device was told.
        capture = service.get_session(vault, sid)
        assert capture.chunk_count >= len(acked)
        chunks = service.chunks_of(vault, capture.id)
        for index, chain_hash in acked.items():
            assert chunks[index].chain_hash == chain_hash
            assert chunks[index].sha256 == sha(parts[index])
        report = verify_vault(vault)
        assert report.ok, report.problems
        assert decoded_frames(recording.partial_recording(vault, sid)) > 0

        # After a restart the device resumes where the server says, and finishes.
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            head = client.head(f"{API}/{sid}", headers=key)
            index, offset = int(head.headers["Chunk-Index"]), int(head.headers["Upload-Offset"])
            assert offset == sum(len(p) for p in parts[:index])
            for i in range(index, len(parts)):
                response = client.patch(
                    f"{API}/{sid}",
                    content=parts[i],
                    headers={
                        **key,
                        "Chunk-Index": str(i),
                        "Upload-Offset": str(offset),
                        "Chunk-SHA256": sha(parts[i]),
                    },
                )
                assert response.status_code == 200, response.text
                offset += len(parts[i])
            done = client.post(f"{API}/{sid}/finish", json={"chunks": len(parts)}, headers=key)
            assert done.status_code == 200, done.text
            assert done.json()["sha256"] == sha(b"".join(parts))
    finally:
        server.stop()
    assert verify_vault(vault).ok
