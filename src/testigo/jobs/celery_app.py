"""Distributed mode: the same jobs, run by Celery workers on many machines.

The job row stays the source of truth. A Celery message carries only a job id; the task leases
that job exactly as the embedded worker does (``claim_job``), runs the same step function through
``run_job`` and records the outcome on the row, so `testigo jobs` and the web app show the same
thing in both modes. A retry is a new message with a countdown equal to the job's backoff; a lost
message costs nothing, because ``sweep`` (run by Celery beat) re-sends every job that is due.

Run a worker with::

    TESTIGO_CELERY_BROKER=redis://127.0.0.1:6379/0 celery -A testigo.jobs.celery_app worker

with the same ``TESTIGO_DATABASE_URL`` (PostgreSQL) and blob store as the rest of the deployment.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from celery import Celery  # type: ignore[import-untyped]

from testigo.config import load_settings
from testigo.jobs import queue
from testigo.jobs.config import load_job_settings
from testigo.vault.service import Vault, open_vault

log = logging.getLogger(__name__)


def _queue_name() -> str:
    """``TESTIGO_CELERY_QUEUE`` lets several vaults (or test runs) share one broker."""
    return os.environ.get("TESTIGO_CELERY_QUEUE", "").strip() or "testigo"


SWEEP_SECONDS = 30.0


def _broker() -> str:
    return os.environ.get("TESTIGO_CELERY_BROKER", "").strip() or "redis://127.0.0.1:6379/0"


app = Celery("testigo", broker=_broker())
app.conf.update(
    task_default_queue=_queue_name(),
    task_ignore_result=True,
    # A message is acknowledged only when its task returns; a worker killed mid-job leaves it
    # for another (the lease on the row decides who actually runs it).
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 3600},
    beat_schedule={
        "testigo-sweep": {"task": "testigo.jobs.sweep", "schedule": SWEEP_SECONDS},
    },
)

_vault: Vault | None = None
_vault_lock = threading.Lock()


def worker_vault() -> Vault:
    """One vault per worker process, opened on first use."""
    global _vault
    with _vault_lock:
        if _vault is None:
            _vault = open_vault(load_settings())
        return _vault


def send_jobs(job_ids: Sequence[int], *, countdown: float | None = None) -> None:
    """Hand jobs to Celery (called after they are committed)."""
    for job_id in job_ids:
        run_job_task.apply_async(
            args=[int(job_id)],
            queue=_queue_name(),
            countdown=countdown,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )


def _seconds_until(stamp: str) -> float:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


@app.task(name="testigo.jobs.run")  # type: ignore[untyped-decorator]
def run_job_task(job_id: int) -> dict[str, Any]:
    from testigo.jobs.worker import run_job, worker_name

    vault = worker_vault()
    settings = load_job_settings()
    owner = f"celery:{worker_name()}"
    job, why = queue.claim_job(vault, job_id, owner, settings=settings)
    if job is None:
        if why == "not_due":
            pending = queue.get_job(vault, job_id)
            send_jobs([job_id], countdown=_seconds_until(pending.run_after) + 0.05)
        elif why == "busy":  # the row was locked for a moment (a cancel, a heartbeat)
            send_jobs([job_id], countdown=1.0)
        return {"job": job_id, "outcome": why}
    outcome = run_job(vault, job, owner, settings=settings)
    if outcome == "retry":
        updated = queue.get_job(vault, job_id)
        send_jobs([job_id], countdown=_seconds_until(updated.run_after) + 0.05)
    elif outcome == "released":
        send_jobs([job_id])
    return {"job": job_id, "outcome": outcome}


@app.task(name="testigo.jobs.sweep")  # type: ignore[untyped-decorator]
def sweep_task() -> int:
    """Re-send every job that is due (new, retried, or left by a dead worker)."""
    return sweep(worker_vault())


def sweep(vault: Vault) -> int:
    ids = queue.due_job_ids(vault)
    send_jobs(ids)
    return len(ids)
