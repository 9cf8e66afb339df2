"""Workers die: a job whose worker is killed with SIGKILL is re-run once its lease expires, and
its results are kept exactly once; SIGTERM stops a worker gracefully, returning its job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testigo.jobs import queue
from testigo.jobs.config import JobSettings
from testigo.jobs.context import StepContext, StepOutput
from testigo.jobs.results import annotations_for, verify_annotations
from testigo.jobs.steps import STEPS, register_step
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import ingest, run_worker

pytestmark = pytest.mark.slow

CHILD = """
import os, sys, time
from pathlib import Path
from testigo.config import load_settings
from testigo.vault.service import open_vault
from testigo.jobs import steps
from testigo.jobs.config import JobSettings
from testigo.jobs.context import StepOutput
from testigo.jobs.worker import Worker

signal_file = Path(os.environ["SIGNAL_FILE"])
real_probe = steps.STEPS["probe"].function

def probe_then_hang(ctx):
    output = real_probe(ctx)  # the analysis is done; nothing is committed yet
    signal_file.write_text("ready")
    while True:
        time.sleep(0.2)

def slow(ctx):
    signal_file.write_text("ready")
    for n in range(600):
        time.sleep(0.05)
        ctx.progress(n / 600, "working")
    return StepOutput()

steps.register_step("probe", probe_then_hang)
steps.register_step("slow", slow)
vault = open_vault(load_settings())
report = Worker(vault, settings=JobSettings(lease_seconds=2.0, poll_seconds=0.05)).run()
print("outcomes", report.outcomes, flush=True)
"""


@pytest.fixture
def slow_step() -> Iterator[None]:
    def slow(ctx: StepContext) -> StepOutput:
        return StepOutput()

    saved = dict(STEPS)
    register_step("slow", slow)
    yield
    STEPS.clear()
    STEPS.update(saved)


def _spawn(signal_file: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD)],
        env={**os.environ, "SIGNAL_FILE": str(signal_file)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(path: Path, proc: subprocess.Popen[bytes], limit: float = 90.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"worker exited early: {err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the worker never reached the job")
        time.sleep(0.02)


def test_sigkill_mid_job_then_rerun_once_after_lease_expiry(
    vault: Vault, media: dict[str, Path], tmp_path: Path, no_auto: None
) -> None:
    item = ingest(vault, media["video"]).item_id
    job = queue.enqueue(vault, "probe", item)
    signal_file = tmp_path / "ready"
    child = _spawn(signal_file)
    _wait_for(signal_file, child)
    running = queue.get_job(vault, job.id)
    assert running.status == "running" and running.attempts == 1
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert annotations_for(vault, item) == []  # nothing half-stored

    # Still leased to the dead worker: not runnable until the lease runs out.
    fast = JobSettings(lease_seconds=2.0, poll_seconds=0.05)
    assert queue.claim_next(vault, "impatient", settings=fast) is None
    time.sleep(2.2)
    report = run_worker(vault, settings=fast)
    assert report.outcomes == {"succeeded": 1}
    done = queue.get_job(vault, job.id)
    assert done.status == "succeeded" and done.attempts == 2
    probes = annotations_for(vault, item, kinds=["probe"])
    assert len(probes) == 1 and probes[0].job_id == job.id
    assert verify_vault(vault).ok and verify_annotations(vault).ok


def test_sigterm_returns_the_running_job_to_the_queue(
    vault: Vault, media: dict[str, Path], tmp_path: Path, slow_step: None, no_auto: None
) -> None:
    item = ingest(vault, media["video"]).item_id
    job = queue.enqueue(vault, "slow", item)
    signal_file = tmp_path / "ready"
    child = _spawn(signal_file)
    _wait_for(signal_file, child)
    os.kill(child.pid, signal.SIGTERM)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()[-2000:]
    assert b"released" in out
    row = queue.get_job(vault, job.id)
    assert row.status == "queued" and row.attempts == 0 and row.lease_owner is None
