"""Testigo used the way people use it, with the plug pulled at random moments.

A server from `testigo serve`; several phones streaming capture chunks over HTTP; a person
uploading files through the resumable upload API; in another process the commands a user runs
(`ingest`, `analyze`, `export`, `verify`, `log show`, `capture list/close`, `incident show`). The
server is killed with SIGKILL several times (seeded: the seed is printed, and
``TESTIGO_SYSTEM_SEED`` replays it) and started again; the phones resume where the server says.

What every client was told is written down on the client side. At the end every acknowledged
chunk must be in its capture, in order, with the hash the phone sent, in the recording and in the
ledger; every answered upload and ingest must be in the ledger; `testigo verify` must pass; no
request may have got a 5xx; the server must never have logged a database error.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from .conftest import Deployment, Server

pytestmark = [pytest.mark.system, pytest.mark.slow]

API = "/api/v1/capture/sessions"
PHONES = 3
CHUNKS_PER_CAPTURE = 12
KILL_ROUNDS = 3


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Told:
    """What the clients were told, and what went wrong for them."""

    chunks: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # capture -> acks
    sent: dict[str, list[bytes]] = field(default_factory=dict)  # capture -> chunk bytes
    finished: dict[str, str] = field(default_factory=dict)  # capture -> recording sha
    uploads: dict[str, str] = field(default_factory=dict)  # upload id -> sha256
    ingested: list[str] = field(default_factory=list)  # sha256 answered by `testigo ingest`
    server_errors: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    cli_failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, where: str, response: httpx.Response) -> None:
        if response.status_code >= 500:
            with self.lock:
                self.server_errors.append(f"{where}: {response.status_code} {response.text[:300]}")


class Phone(threading.Thread):
    """A phone recording one capture after another, retrying through outages as the page does."""

    def __init__(
        self, number: int, server: Server, token: str, told: Told, stop: threading.Event
    ) -> None:
        super().__init__(name=f"phone-{number}", daemon=True)
        self.number = number
        self.server = server
        self.token = token
        self.told = told
        self.halt = stop
        self.random = random.Random(number)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=20)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """One request; None when the server is not there (killed, restarting)."""
        try:
            with self.client() as client:
                response = client.request(method, path, **kwargs)
        except httpx.HTTPError:
            time.sleep(0.3)
            return None
        self.told.error(f"{method} {path}", response)
        return response

    def run(self) -> None:
        while not self.halt.is_set():
            self.record_one()

    def record_one(self) -> None:
        opened = None
        while opened is None and not self.halt.is_set():
            response = self.call("POST", API, json={"token": self.token, "mime_type": "video/webm"})
            if response is not None and response.status_code == 201:
                opened = response.json()
            elif response is not None and response.status_code not in (429, 503):
                raise AssertionError(f"opening a capture: {response.status_code} {response.text}")
        if opened is None:
            return
        sid, key = opened["id"], {"Capture-Key": opened["upload_key"]}
        parts = [
            i.to_bytes(4, "big") + self.random.randbytes(self.random.randint(8_000, 40_000))
            for i in range(CHUNKS_PER_CAPTURE)
        ]
        with self.told.lock:
            self.told.chunks[sid] = []
            self.told.sent[sid] = parts
        index = 0
        while index < len(parts):
            if self.halt.is_set():
                return  # the phone is switched off mid-recording
            offset = sum(len(p) for p in parts[:index])
            response = self.call(
                "PATCH",
                f"{API}/{sid}",
                content=parts[index],
                headers={
                    **key,
                    "Chunk-Index": str(index),
                    "Upload-Offset": str(offset),
                    "Chunk-SHA256": sha(parts[index]),
                    "Chunk-Duration-Ms": "1000",
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            if response is not None and response.status_code == 200:
                with self.told.lock:
                    self.told.chunks[sid].append((index, sha(parts[index])))
                index += 1
                time.sleep(self.random.uniform(0.02, 0.15))
                continue
            # No answer, or a conflict: ask the server where it is, as the capture page does.
            head = None
            while head is None and not self.halt.is_set():
                head = self.call("HEAD", f"{API}/{sid}", headers=key)
                if head is not None and head.status_code != 200:
                    raise AssertionError(f"HEAD {sid}: {head.status_code}")
            if head is None:
                return
            saved = int(head.headers["Chunk-Index"])
            if saved < index:
                with self.told.lock:
                    self.told.regressions.append(
                        f"{sid}: {index} chunks acknowledged, the server now has {saved}"
                    )
            index = saved
        while not self.halt.is_set():
            response = self.call(
                "POST", f"{API}/{sid}/finish", json={"chunks": len(parts)}, headers=key
            )
            if response is not None and response.status_code == 200:
                with self.told.lock:
                    self.told.finished[sid] = response.json()["sha256"]
                return
            if response is not None and response.status_code not in (409, 429, 503):
                raise AssertionError(f"finish {sid}: {response.status_code} {response.text}")


class Uploader(threading.Thread):
    """Someone uploading files from the web app (its page uses this resumable API)."""

    def __init__(self, server: Server, api_token: str, told: Told, stop: threading.Event) -> None:
        super().__init__(name="uploader", daemon=True)
        self.server = server
        self.headers = {"Authorization": f"Bearer {api_token}"}
        self.told = told
        self.halt = stop
        self.random = random.Random(99)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        try:
            with httpx.Client(base_url=self.server.url, timeout=20, headers=self.headers) as c:
                response = c.request(method, path, **kwargs)
        except httpx.HTTPError:
            time.sleep(0.3)
            return None
        self.told.error(f"{method} {path}", response)
        return response

    def run(self) -> None:
        number = 0
        while not self.halt.is_set():
            number += 1
            data = self.random.randbytes(self.random.randint(20_000, 200_000))
            created = None
            while created is None and not self.halt.is_set():
                response = self.call(
                    "POST",
                    "/api/v1/uploads",
                    json={"name": f"upload-{number}.bin", "size": len(data)},
                )
                if response is not None and response.status_code == 201:
                    created = response.json()
                elif response is not None:
                    raise AssertionError(f"upload: {response.status_code} {response.text}")
            if created is None:
                return
            upload = created["id"]
            offset = 0
            while not self.halt.is_set():
                end = min(len(data), offset + 64_000)
                response = self.call(
                    "PATCH",
                    f"/api/v1/uploads/{upload}",
                    content=data[offset:end],
                    headers={
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )
                if response is not None and response.status_code == 200:
                    status = response.json()
                    if status["complete"]:
                        with self.told.lock:
                            self.told.uploads[upload] = status["result"]["sha256"]
                        assert status["result"]["sha256"] == sha(data)
                        break
                    offset = int(status["offset"])
                    continue
                head = self.call("HEAD", f"/api/v1/uploads/{upload}")
                if head is not None and head.status_code == 200:
                    offset = int(head.headers["Upload-Offset"])
            time.sleep(self.random.uniform(0.1, 0.4))


class CommandLine(threading.Thread):
    """A user at a second terminal, running the documented commands while the server runs."""

    def __init__(self, deployment: Deployment, told: Told, stop: threading.Event) -> None:
        super().__init__(name="cli", daemon=True)
        self.d = deployment
        self.told = told
        self.halt = stop
        self.folder = deployment.home.parent / "to-ingest"
        self.folder.mkdir(exist_ok=True)
        self.random = random.Random(7)

    def run(self) -> None:
        number = 0
        commands: list[list[str]] = [
            ["log", "show", "--json"],
            ["capture", "list", "--json"],
            ["incident", "show", "1", "--json"],
            ["verify"],
            ["analyze", "--all"],
        ]
        while not self.halt.is_set():
            number += 1
            path = self.folder / f"note-{number}.txt"
            path.write_bytes(f"field note {number}\n".encode() + self.random.randbytes(2000))
            try:
                result = self.d.cli_json("ingest", str(path), "--incident", "1")
                with self.told.lock:
                    self.told.ingested.extend(r["sha256"] for r in result["ingested"])
                bundle = self.d.home.parent / f"bundle-{number}.zip"
                for args in [*commands, ["export", "1", "--out", str(bundle)]]:
                    if self.halt.is_set():
                        return
                    self.d.cli(*args)
            except AssertionError as failure:
                with self.told.lock:
                    self.told.cli_failures.append(str(failure)[:2000])


def test_live_use_with_kills(deployment: Deployment) -> None:
    d = deployment
    seed = int(os.environ.get("TESTIGO_SYSTEM_SEED") or random.SystemRandom().randrange(1 << 30))
    print(f"system test seed: {seed} ({d.name}); replay with TESTIGO_SYSTEM_SEED={seed}")
    chance = random.Random(seed)
    d.cli("init")
    d.cli("demo")
    d.cli("user", "create", "ana", "--role", "contributor")
    api_token = d.cli("token", "create", "ana").strip().splitlines()[-1].strip()
    server = d.server()
    server.start()
    link = d.cli_json(
        "capture", "link", "create", "--uses", "200", "--base-url", server.url, "--incident", "1"
    )
    told = Told()
    stop = threading.Event()
    actors: list[threading.Thread] = [
        *(Phone(n, server, link["token"], told, stop) for n in range(PHONES)),
        Uploader(server, api_token, told, stop),
        CommandLine(d, told, stop),
    ]
    for actor in actors:
        actor.start()
    kills = []
    try:
        for _ in range(KILL_ROUNDS):
            time.sleep(chance.uniform(3.0, 7.0))
            server.kill9()
            kills.append(sum(len(v) for v in told.chunks.values()))
            time.sleep(chance.uniform(0.0, 1.5))
            server.start()
        time.sleep(chance.uniform(3.0, 5.0))
    finally:
        stop.set()
        for actor in actors:
            actor.join(120)
    assert not any(actor.is_alive() for actor in actors)
    print(f"kills after {kills} acknowledged chunks; {server.starts} starts")

    # Captures left open (phones switched off mid-recording) are closed as a user would.
    open_ids = [sid for sid in told.chunks if sid not in told.finished]
    for sid in open_ids:
        # The server may have closed it already (a device silent too long): both are fine.
        d.cli("capture", "close", sid, check=False)
    server.stop()

    assert told.server_errors == []
    assert told.regressions == []
    assert told.cli_failures == []
    acknowledged = sum(len(v) for v in told.chunks.values())
    assert acknowledged >= 20 and told.uploads and told.ingested, (acknowledged, told)
    _check_captures(d, told)
    _check_ledger(d, told)
    d.cli("verify")  # exits non-zero on any problem
    assert server.bad_log_lines() == [], server.tail()
    print(
        f"{acknowledged} chunks in {len(told.chunks)} captures ({len(told.finished)} finished), "
        f"{len(told.uploads)} uploads, {len(told.ingested)} CLI ingests: all kept"
    )


def _check_captures(d: Deployment, told: Told) -> None:
    from testigo.capture import service
    from testigo.config import load_settings
    from testigo.vault.service import open_vault

    old = dict(os.environ)
    os.environ.update(d.env)
    try:
        vault = open_vault(load_settings())
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        for sid, acks in told.chunks.items():
            shown = d.cli_json("capture", "show", sid)
            capture = service.get_session(vault, sid)
            stored = service.chunks_of(vault, capture.id)
            assert [c.idx for c in stored] == list(range(len(stored))), sid
            for index, digest in acks:
                assert index < len(stored), f"{sid}: acknowledged chunk {index} is missing"
                assert stored[index].sha256 == digest, f"{sid}: chunk {index} differs"
            assert shown["status"] in service.CLOSED, shown
            if not stored:
                continue
            # The recording is the stored chunks, in order: every acknowledged one in it.
            parts = told.sent[sid][: len(stored)]
            recording = _recording_bytes(vault, shown["item_id"])
            assert recording == b"".join(parts), f"{sid}: the recording is not the chunks"
            if sid in told.finished:
                assert sha(recording) == told.finished[sid]
    finally:
        vault.dispose()


def _recording_bytes(vault: Any, item_id: int) -> bytes:
    from testigo.db.models import EvidenceItem

    with vault.reading() as session:
        item = session.get(EvidenceItem, item_id)
        assert item is not None
        digest = item.sha256
    with vault.blobs.open(digest) as handle:
        return bytes(handle.read())


def _check_ledger(d: Deployment, told: Told) -> None:
    entries: list[dict[str, Any]] = []
    start = 0
    while True:
        page = d.cli_json("log", "show", "--from", str(start), "--limit", "5000")
        entries.extend(e["entry"] for e in page)
        if len(page) < 5000:
            break
        start += len(page)
    chunk_entries = {
        (e["params"]["session"], e["params"]["index"]): e["params"]["sha256"]
        for e in entries
        if e["type"] == "capture.chunk"
    }
    for sid, acks in told.chunks.items():
        for index, digest in acks:
            assert chunk_entries.get((sid, index)) == digest, f"{sid} chunk {index} not ledgered"
    subjects = {s for e in entries for s in e["subjects"]}
    for digest in [*told.uploads.values(), *told.ingested]:
        assert f"sha256:{digest}" in subjects, f"{digest} answered but not in the ledger"
