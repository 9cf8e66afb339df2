"""Fixtures for the vault tests.

The S3 fixtures run moto's S3-protocol server as a separate process on a free loopback port, so the
S3 backend is exercised over real HTTP exactly as against MinIO or AWS. boto3 and the backend are
imported inside the fixtures, so tests that do not use them pay nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from testigo.vault.s3store import S3BlobStore

S3_TEST_BUCKET = "testigo-test"
S3_TEST_REGION = "us-east-1"
S3_TEST_KEY_ID = "testing"
S3_TEST_SECRET = "testing"
SERVER_START_DEADLINE_SECONDS = 60.0


@dataclass(frozen=True)
class MotoS3Server:
    """A running moto S3 server and the bucket made for the test session."""

    endpoint: str
    bucket: str
    log_path: Path

    def client(self) -> S3Client:
        """A client with explicit test credentials, independent of the environment."""
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=S3_TEST_KEY_ID,
            aws_secret_access_key=S3_TEST_SECRET,
            region_name=S3_TEST_REGION,
        )
        return session.client(
            "s3",
            endpoint_url=self.endpoint,
            config=Config(s3={"addressing_style": "path"}),
        )


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int) -> bool:
    """True once the server accepts connections; False if it exited (e.g. port taken)."""
    deadline = time.monotonic() + SERVER_START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3Server]:
    """Start ``python -m moto.server`` on 127.0.0.1, create the test bucket, stop it at the end."""
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": S3_TEST_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_TEST_SECRET,
    }
    for _attempt in range(3):
        port = _free_loopback_port()
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        if _wait_until_listening(proc, port):
            break
        _stop(proc)
    else:
        pytest.fail(f"moto S3 server did not start; see {log_path}")
    try:
        server = MotoS3Server(f"http://127.0.0.1:{port}", S3_TEST_BUCKET, log_path)
        server.client().create_bucket(Bucket=S3_TEST_BUCKET)
        yield server
    finally:
        _stop(proc)


@pytest.fixture
def s3_env(moto_s3_server: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> MotoS3Server:
    """Point the standard AWS variables and ``TESTIGO_S3_ENDPOINT_URL`` at the moto server."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
    ):
        monkeypatch.delenv(name, raising=False)
    missing = str(Path(os.devnull).parent / "testigo-no-aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", missing)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_TEST_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_TEST_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", S3_TEST_REGION)
    monkeypatch.setenv("TESTIGO_S3_ENDPOINT_URL", moto_s3_server.endpoint)
    return moto_s3_server


@pytest.fixture
def s3_prefix() -> str:
    """A fresh prefix per test, so tests sharing the session bucket never see each other."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_store(s3_env: MotoS3Server, s3_prefix: str) -> S3BlobStore:
    from testigo.vault.s3store import S3BlobStore

    return S3BlobStore.from_url(f"s3://{s3_env.bucket}/{s3_prefix}")


@pytest.fixture
def s3_client(moto_s3_server: MotoS3Server) -> S3Client:
    """A client for looking at the bucket directly, behind the store's back."""
    return moto_s3_server.client()
