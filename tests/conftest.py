"""Shared fixtures: a fresh vault per test, on SQLite and (when configured) on PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from testigo.config import Settings
from testigo.vault.service import Vault, init_vault, open_vault

POSTGRES_URL = os.environ.get("TESTIGO_TEST_POSTGRES_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


def _psycopg_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no other test sees: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'testigo.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_psycopg_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{_psycopg_url(POSTGRES_URL)}{sep}options=-csearch_path%3D{schema}"
    finally:
        _drop_schema(admin, schema)
        admin.dispose()


def _drop_schema(admin: Engine, schema: str) -> None:
    """Drop a test's schema; a background writer still finishing (a checkpoint thread, a killed
    server's last transaction) can make PostgreSQL pick the drop as a deadlock victim: retry."""
    for attempt in range(5):
        try:
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            return
        except OperationalError as exc:
            if "deadlock" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    home = tmp_path / "var"
    return Settings(
        home=home,
        database_url=database_url,
        blobs_url=str(home / "blobs"),
        actor="test:alice",
        checkpoint_origin="",
        extra={},
    )


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment that makes `testigo` commands use this test's vault."""
    values = {
        "TESTIGO_HOME": str(settings.home),
        "TESTIGO_DATABASE_URL": settings.database_url,
        "TESTIGO_BLOBS_URL": settings.blobs_url,
        "TESTIGO_ACTOR": settings.actor,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TESTIGO_LOG_ORIGIN", raising=False)
    return values


@pytest.fixture
def vault(settings: Settings, env: dict[str, str]) -> Iterator[Vault]:
    init_vault(settings)
    opened = open_vault(settings)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture
def run_main(env: dict[str, str], capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Call `testigo.cli.main` as the console script does: errors become messages and codes."""
    from testigo import cli

    def call(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


@pytest.fixture
def serve_http(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[type[BaseHTTPRequestHandler]], str]]:
    """Start a web server on loopback with a given handler; gives its base URL.

    Proxies are switched off and ``TESTIGO_FETCH_ALLOW_PRIVATE`` cleared, so each test says
    itself whether the server may reach loopback.
    """
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TESTIGO_FETCH_ALLOW_PRIVATE", raising=False)
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
