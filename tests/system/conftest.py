"""The real processes, as people run them: `testigo serve` (and `testigo worker`) started from the
command line, `testigo` commands in other processes at the same time, clients over HTTP.

Each test gets a fresh home. ``deployment`` runs a test once per way Testigo is deployed:
SQLite at the default synchronous level, SQLite with ``TESTIGO_SQLITE_SYNCHRONOUS=FULL``, and
(when ``TESTIGO_TEST_POSTGRES_URL`` is set) PostgreSQL with two server processes and a separate
job worker.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get("TESTIGO_TEST_POSTGRES_URL", "").strip()

TESTIGO = str(Path(sys.executable).parent / "testigo")
# What a server must never write to its log, whatever happens to it.
BAD_LOG_LINES = (
    "Traceback",
    "DatabaseError",
    "malformed",
    "database is locked",
    "disk I/O error",
    "ImportError",
    "partially initialized",
)

pytestmark = pytest.mark.system


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    """One home, and how its server is run."""

    name: str
    home: Path
    env: dict[str, str]
    server_workers: int = 1
    separate_worker: bool = False
    servers: list[Server] = field(default_factory=list)

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        done = subprocess.run(
            [TESTIGO, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"`testigo {' '.join(args)}` exited {done.returncode}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json"))

    def server(self) -> Server:
        made = Server(self)
        self.servers.append(made)
        return made


class Server:
    """`testigo serve` in its own process group (so SIGKILL takes its uvicorn workers too),
    plus `testigo worker` beside it when the deployment runs jobs separately."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.port = free_port()
        self.log = deployment.home / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        handle = self.log.open("ab")
        try:
            return subprocess.Popen(
                [TESTIGO, *args],
                env=self.deployment.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            handle.close()

    def start(self, timeout: float = 90.0) -> None:
        d = self.deployment
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if d.server_workers != 1:
            args += ["--workers", str(d.server_workers)]
        if d.separate_worker:
            args += ["--jobs", "0"]
            self.worker = self._spawn(["worker"])
        self.process = self._spawn(args)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited at start:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the server did not answer in {timeout:.0f} s:\n{self.tail()}")

    def _signal(self, process: subprocess.Popen[bytes] | None, number: int) -> None:
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, number)
        except ProcessLookupError:
            return
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)

    def kill9(self) -> None:
        """Pull the plug on the server (and its worker): no shutdown code runs."""
        self._signal(self.process, signal.SIGKILL)
        self._signal(self.worker, signal.SIGKILL)

    def stop(self) -> None:
        self._signal(self.process, signal.SIGTERM)
        self._signal(self.worker, signal.SIGTERM)

    def tail(self, size: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    def bad_log_lines(self) -> list[str]:
        if not self.log.exists():
            return []
        return [
            line
            for line in self.log.read_text(errors="replace").splitlines()
            if any(bad in line for bad in BAD_LOG_LINES)
        ]


KEPT_SETTINGS = ("TESTIGO_CHROMIUM", "TESTIGO_TEST_POSTGRES_URL")
DEPLOYMENTS = ["sqlite", "sqlite-full"] + (["postgres"] if POSTGRES_URL else [])


def _home(tmp_path: Path, name: str, extra: dict[str, str]) -> Deployment:
    home = tmp_path / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TESTIGO_") or key in KEPT_SETTINGS
    }
    env.update(
        TESTIGO_HOME=str(home),
        TESTIGO_ACTOR="system-test",
        # Nothing here may wait for a slow network: analysis runs, fetching does not.
        NO_PROXY="127.0.0.1,localhost",
        **extra,
    )
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        env.pop(proxy, None)
    return Deployment(name, home, env)


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    name = request.param
    schema = None
    admin = None
    if name == "sqlite":
        made = _home(tmp_path, name, {})
    elif name == "sqlite-full":
        made = _home(tmp_path, name, {"TESTIGO_SQLITE_SYNCHRONOUS": "FULL"})
    else:
        schema = f"s_{uuid.uuid4().hex[:12]}"
        admin = create_engine(
            POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        sep = "&" if "?" in POSTGRES_URL else "?"
        url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
        made = _home(tmp_path, name, {"TESTIGO_DATABASE_URL": url})
        made.server_workers = 2
        made.separate_worker = True
    try:
        yield made
    finally:
        for server in made.servers:
            server.kill9()
        if admin is not None and schema is not None:
            _drop_schema(admin, schema)
            admin.dispose()


def _drop_schema(admin: Any, schema: str) -> None:
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
def sqlite_deployment(tmp_path: Path) -> Iterator[Deployment]:
    made = _home(tmp_path, "sqlite", {})
    try:
        yield made
    finally:
        for server in made.servers:
            server.kill9()
