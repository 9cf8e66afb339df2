"""A `kill -9` at any moment of an ingest leaves the vault verifiable; stale files are swept.

Each test runs the ingest in a real subprocess and kills it with SIGKILL: while the file is being
copied, after the blob is published but before the database commit, inside the database
transaction, and at spread-out moments of a plain `testigo ingest` of a large file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from testigo.config import Settings
from testigo.db.models import EvidenceItem
from testigo.vault.ingest import Acquired, ingest_paths
from testigo.vault.service import init_vault, open_vault
from testigo.vault.verify import verify_vault

pytestmark = pytest.mark.slow

PRELUDE = """
import os, sys, time
from pathlib import Path
from testigo.config import load_settings
from testigo.vault.service import open_vault
from testigo.vault.ingest import Acquired, Candidate, ingest_file
import testigo.vault.ingest as ingest_mod
import testigo.vault.ledger as ledger_mod

signal_path = Path(os.environ["SIGNAL_FILE"])

def signal_parent_and_hang():
    signal_path.write_text("ready")
    while True:
        time.sleep(1)

vault = open_vault(load_settings())
"""


def _spawn(script: str, env: dict[str, str], signal_file: Path) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, **env, "SIGNAL_FILE": str(signal_file)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PRELUDE) + textwrap.dedent(script)],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(path: Path, proc: subprocess.Popen[bytes], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        if proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"child exited early: {err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("child never reached the point to kill it at")
        time.sleep(0.01)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _items(settings: Settings) -> int:
    vault = open_vault(settings)
    try:
        with vault.reading() as session:
            return int(session.scalar(select(func.count()).select_from(EvidenceItem)) or 0)
    finally:
        vault.dispose()


def _assert_verifiable(settings: Settings) -> list[str]:
    vault = open_vault(settings)  # the next start sweeps stale temporary files
    try:
        tmp = Path(settings.blobs_url) / "tmp"
        assert list(tmp.iterdir()) == [], "stale temporary files were not removed"
        report = verify_vault(vault)
        assert report.ok, [str(p) for p in report.problems]
        return report.notes
    finally:
        vault.dispose()


@pytest.fixture
def ready_vault(settings: Settings, env: dict[str, str]) -> Settings:
    init_vault(settings)
    return settings


def test_kill_while_copying(ready_vault: Settings, env: dict[str, str], tmp_path: Path) -> None:
    script = """
    class Slow:
        def __init__(self):
            self.n = 0
        def read(self, size=-1):
            self.n += 1
            if self.n == 3:
                signal_parent_and_hang()
            return b"x" * 65536
    ingest_mod.store_stream(vault, Slow(), name="slow.bin", acquired=Acquired(actor="child"))
    """
    signal_file = tmp_path / "signal"
    proc = _spawn(script, env, signal_file)
    _wait_for(signal_file, proc)
    tmp = Path(ready_vault.blobs_url) / "tmp"
    assert len(list(tmp.iterdir())) == 1, "the partial file should exist while copying"
    _kill(proc)
    _assert_verifiable(ready_vault)
    assert _items(ready_vault) == 0


def test_kill_after_publish_before_commit(
    ready_vault: Settings, env: dict[str, str], tmp_path: Path
) -> None:
    src = tmp_path / "evidence.bin"
    src.write_bytes(os.urandom(200_000))
    script = f"""
    ingest_mod.record_receipt = lambda *a, **k: signal_parent_and_hang()
    ingest_file(vault, Candidate(Path({str(src)!r}), {src.stat().st_size}), Acquired(actor="child"))
    """
    signal_file = tmp_path / "signal"
    proc = _spawn(script, env, signal_file)
    _wait_for(signal_file, proc)
    _kill(proc)
    notes = _assert_verifiable(ready_vault)
    assert any("not referenced" in n for n in notes)
    assert _items(ready_vault) == 0
    # A later ingest of the same content adopts the published blob.
    vault = open_vault(ready_vault)
    try:
        report = ingest_paths(vault, [src], Acquired(actor="test"))
        assert len(report.ingested) == 1
        assert verify_vault(vault).notes == []
    finally:
        vault.dispose()


def test_kill_inside_database_transaction(
    ready_vault: Settings, env: dict[str, str], tmp_path: Path
) -> None:
    src = tmp_path / "evidence.bin"
    src.write_bytes(os.urandom(50_000))
    script = f"""
    original = ledger_mod.append_entries
    def append_then_hang(session, entries):
        result = original(session, entries)
        session.flush()
        signal_parent_and_hang()
    ledger_mod.append_entries = append_then_hang
    ingest_file(vault, Candidate(Path({str(src)!r}), {src.stat().st_size}), Acquired(actor="child"))
    """
    signal_file = tmp_path / "signal"
    proc = _spawn(script, env, signal_file)
    _wait_for(signal_file, proc)
    _kill(proc)
    _assert_verifiable(ready_vault)
    assert _items(ready_vault) == 0


def test_kill_real_cli_at_spread_out_moments(
    ready_vault: Settings, env: dict[str, str], tmp_path: Path
) -> None:
    big = tmp_path / "long-recording.bin"
    with big.open("wb") as out:
        block = os.urandom(1024 * 1024)
        for i in range(96):
            out.write(block[i:] + block[:i])
    testigo = [sys.executable, "-m", "testigo", "ingest", "--json", str(big)]
    full_env = {**os.environ, **env}
    started = time.monotonic()
    subprocess.run(testigo, env=full_env, check=True, capture_output=True)
    duration = time.monotonic() - started
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.9, 0.97):
        proc = subprocess.Popen(
            testigo, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(duration * fraction)
        # The run may end on its own between the check and the signal (late moments, warm
        # caches): then it must have succeeded; either way the vault must verify.
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        _out, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()[-2000:]
        _assert_verifiable(ready_vault)
    assert _items(ready_vault) == 1
