"""The blob mirror with the real server: a phone streams while the mirror disappears, comes back,
and the server is killed; nothing is acknowledged that is not in both stores.

`testigo serve` runs with ``TESTIGO_BLOBS_MIRROR_URL`` set to a second folder. A phone sends
chunks; half way the mirror's folder is taken away (an unmounted share): the server must answer
503 and acknowledge nothing until it is back, and the phone resends. The server is killed with
SIGKILL, started again, and the phone finishes. Then `testigo verify` re-hashes both stores, and
every acknowledged chunk is in the mirror. A second run with ``TESTIGO_BLOBS_MIRROR_REQUIRED=0``
acknowledges through the outage, `verify` names each chunk the mirror lacks, and `testigo blobs
sync-mirror` copies them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx
import pytest

from .conftest import Deployment, Server

pytestmark = [pytest.mark.system]

API = "/api/v1/capture/sessions"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mirror_path(mirror: Path, digest: str) -> Path:
    return mirror / "sha256" / digest[:2] / digest[2:4] / digest


class Phone:
    def __init__(self, server: Server, token: str) -> None:
        self.server = server
        opened = httpx.post(
            f"{server.url}{API}", json={"token": token, "mime_type": "video/webm"}, timeout=20
        )
        assert opened.status_code == 201, opened.text
        self.sid = opened.json()["id"]
        self.key = {"Capture-Key": opened.json()["upload_key"]}
        self.offset = 0
        self.index = 0
        self.acked: list[str] = []

    def send(self, data: bytes) -> httpx.Response:
        response = httpx.patch(
            f"{self.server.url}{API}/{self.sid}",
            content=data,
            headers={
                **self.key,
                "Chunk-Index": str(self.index),
                "Upload-Offset": str(self.offset),
                "Chunk-SHA256": sha(data),
                "Chunk-Duration-Ms": "1000",
                "Content-Type": "application/offset+octet-stream",
            },
            timeout=20,
        )
        if response.status_code == 200:
            self.acked.append(sha(data))
            self.offset += len(data)
            self.index += 1
        return response

    def saved(self) -> int:
        head = httpx.head(f"{self.server.url}{API}/{self.sid}", headers=self.key, timeout=20)
        return int(head.headers["Chunk-Index"])

    def finish(self) -> str:
        done = httpx.post(
            f"{self.server.url}{API}/{self.sid}/finish",
            json={"chunks": self.index},
            headers=self.key,
            timeout=60,
        )
        assert done.status_code == 200, done.text
        return str(done.json()["sha256"])


def _setup(d: Deployment, mirror: Path, required: str) -> tuple[Server, str]:
    d.env["TESTIGO_BLOBS_MIRROR_URL"] = str(mirror)
    d.env["TESTIGO_BLOBS_MIRROR_REQUIRED"] = required
    d.cli("init")
    server = d.server()
    server.start()
    link = d.cli_json("capture", "link", "create", "--uses", "5", "--base-url", server.url)
    return server, link["token"]


def test_mirror_outage_and_kill_lose_nothing(deployment: Deployment) -> None:
    d = deployment
    mirror = d.home.parent / "mirror"
    server, token = _setup(d, mirror, "1")
    phone = Phone(server, token)
    chunks = [bytes([n]) * 5000 + n.to_bytes(2, "big") for n in range(9)]
    for data in chunks[:3]:
        assert phone.send(data).status_code == 200
    away = mirror.with_name("mirror-away")
    mirror.rename(away)
    for _ in range(3):  # the phone retries through the outage; nothing is acknowledged
        refused = phone.send(chunks[3])
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "storage_unavailable"
        assert str(mirror) in refused.json()["error"]
    assert phone.saved() == 3
    shutil.rmtree(mirror, ignore_errors=True)
    away.rename(mirror)
    for data in chunks[3:6]:
        assert phone.send(data).status_code == 200
    server.kill9()
    server.start()
    assert phone.saved() == 6
    for data in chunks[6:]:
        assert phone.send(data).status_code == 200
    recording = phone.finish()
    server.stop()

    assert phone.acked == [sha(c) for c in chunks]
    for digest in phone.acked:
        assert mirror_path(mirror, digest).read_bytes() == chunks[phone.acked.index(digest)]
    assert sha(b"".join(chunks)) == recording
    assert mirror_path(mirror, recording).is_file()  # the finished recording is mirrored too
    report = d.cli_json("verify")
    assert report["ok"], report["problems"]
    assert report["mirror"]["blobs_checked"] >= len(chunks) + 1
    assert server.bad_log_lines() == [], server.tail()


def test_one_copy_accepted_is_reported_and_synced(sqlite_deployment: Deployment) -> None:
    d = sqlite_deployment
    mirror = d.home.parent / "mirror"
    server, token = _setup(d, mirror, "0")
    phone = Phone(server, token)
    away = mirror.with_name("mirror-away")
    mirror.rename(away)
    chunks = [bytes([n + 1]) * 4000 for n in range(4)]
    for data in chunks:
        assert phone.send(data).status_code == 200
    shutil.rmtree(mirror, ignore_errors=True)
    away.rename(mirror)
    phone.finish()
    server.stop()
    assert "sync-mirror" in server.tail(20000)  # the operator was told, in the log

    report = json.loads(d.cli("verify", "--json", check=False))
    assert not report["ok"]
    missing = [p for p in report["problems"] if p["kind"] == "mirror"]
    assert len(missing) == len(chunks)
    d.cli("blobs", "sync-mirror")
    for digest in phone.acked:
        assert mirror_path(mirror, digest).is_file()
    assert d.cli_json("verify")["ok"]
