"""Distributed mode for real: a Celery worker process on Redis runs jobs of a PostgreSQL vault,
and the job rows (status, attempts, errors) tell the same story as in embedded mode."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testigo.config import Settings
from testigo.jobs import queue
from testigo.jobs.models import FINISHED_STATUSES
from testigo.jobs.results import annotations_for
from testigo.vault.service import Vault

from .conftest import ingest

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of its own, purged before and after


@pytest.fixture
def celery_worker(
    settings: Settings, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("distributed mode is tested on PostgreSQL (set TESTIGO_TEST_POSTGRES_URL)")
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    monkeypatch.setenv("TESTIGO_CELERY_BROKER", REDIS_URL)
    # A queue of this run's own: a stray worker left by an interrupted run cannot take its tasks.
    queue_name = f"testigo-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("TESTIGO_CELERY_QUEUE", queue_name)
    log = (tmp_path / "celery.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "testigo.jobs.celery_app",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ],
        env={**os.environ, "TESTIGO_CELERY_BROKER": REDIS_URL, "TESTIGO_CELERY_QUEUE": queue_name},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        client.flushdb()
        if os.environ.get("TESTIGO_SHOW_CELERY_LOG"):
            print((tmp_path / "celery.log").read_text())


def _wait_finished(vault: Vault, job_ids: list[int], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        rows = queue.jobs_by_id(vault, job_ids)
        if all(r.status in FINISHED_STATUSES for r in rows):
            return
        assert proc.poll() is None, "the Celery worker exited"
        assert time.monotonic() < deadline, [(r.id, r.status, r.message) for r in rows]
        time.sleep(0.2)


def test_probe_job_runs_on_a_celery_worker(
    vault: Vault, media: dict[str, Path], celery_worker: subprocess.Popen[bytes], no_auto: None
) -> None:
    video = ingest(vault, media["video"]).item_id
    broken = ingest(vault, media["truncated"]).item_id
    good = queue.enqueue(vault, "probe", video)  # sent to Celery once committed
    bad = queue.enqueue(vault, "keyframes", broken)
    _wait_finished(vault, [good.id, bad.id], celery_worker)
    done = queue.get_job(vault, good.id)
    assert done.status == "succeeded" and done.attempts == 1, done.error
    assert done.result and done.result["kind"] == "video"
    probes = annotations_for(vault, video, kinds=["probe"])
    assert len(probes) == 1 and probes[0].job_id == good.id
    failed = queue.get_job(vault, bad.id)
    assert failed.status == "failed" and failed.attempts == 1
    assert any(w in (failed.error or "").lower() for w in ("truncat", "corrupt"))
