"""The embedded worker: threads in this process that claim jobs, run them and record the outcome.

``testigo worker`` and ``testigo analyze --wait`` run one; the web server can start one next to
itself. The same ``run_job`` is what the Celery tasks call, so a job behaves identically in both
modes. SIGTERM or SIGINT stops the worker gracefully: no new job is claimed, running steps stop
at their next check and their jobs go back to the queue without using up an attempt. A second
signal exits at once; the leases then run out and another worker takes the jobs over.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from testigo.errors import NotFoundError, RefusedInputError, TestigoError, UsageError
from testigo.jobs import queue
from testigo.jobs.config import JobSettings, load_job_settings
from testigo.jobs.context import StepContext
from testigo.jobs.models import Job
from testigo.media import MediaError
from testigo.vault.service import Vault

log = logging.getLogger(__name__)

# Errors that say the input (or the request) is at fault: retrying cannot help.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    RefusedInputError,
    MediaError,
    NotFoundError,
    UsageError,
)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _Heartbeat(threading.Thread):
    """Renews the job's lease and writes its progress about once a second while it runs."""

    def __init__(self, ctx: StepContext, settings: JobSettings) -> None:
        super().__init__(name=f"heartbeat-{ctx.job_id}", daemon=True)
        self.ctx = ctx
        self.settings = settings
        self.done = threading.Event()

    def run(self) -> None:
        interval = min(1.0, self.settings.heartbeat_seconds)
        last_written: tuple[float, str | None] | None = None
        last_time = 0.0
        while not self.done.wait(interval):
            snapshot = self.ctx.snapshot()
            now = time.monotonic()
            # Write when there is news, and at least every two seconds (or more often, for short
            # leases): that is also when a cancel request is seen.
            quiet = min(2.0, self.settings.heartbeat_seconds)
            if snapshot == last_written and now - last_time < quiet:
                continue
            try:
                state = queue.heartbeat(
                    self.ctx.vault,
                    self.ctx.job_id,
                    self.ctx.owner,
                    progress=snapshot[0],
                    message=snapshot[1],
                    settings=self.settings,
                )
            except Exception as exc:  # the database is briefly away: try again next beat
                log.warning("job %s: heartbeat failed: %s", self.ctx.job_id, exc)
                continue
            last_written, last_time = snapshot, now
            if state == "cancel":
                self.ctx.cancelled.set()
            elif state == "lost":
                self.ctx.lost.set()
                return

    def stop(self) -> None:
        self.done.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=10)


def run_job(
    vault: Vault,
    job: Job,
    owner: str,
    *,
    settings: JobSettings | None = None,
    stopping: threading.Event | None = None,
    on_progress: Callable[[float, str | None], None] | None = None,
) -> str:
    """Run a job this worker has claimed; returns its outcome.

    Outcomes: "succeeded", "failed" (permanently), "retry" (queued again after a backoff),
    "cancelled", "lost" (another worker holds it now) or "released" (worker stopping).
    """
    from testigo.jobs.steps import run_step

    settings = settings or load_job_settings()
    ctx = StepContext(
        vault=vault,
        job_id=job.id,
        step=job.step,
        item_id=int(job.item_id or 0),
        params=dict(job.params or {}),
        owner=owner,
        attempt=job.attempts,
        on_progress=on_progress,
    )
    if stopping is not None:
        ctx.stopping = stopping
    beat = _Heartbeat(ctx, settings)
    beat.start()
    try:
        run_step(ctx)
        return "succeeded"
    except queue.JobCancelled:
        queue.mark_cancelled(vault, job.id, owner)
        return "cancelled"
    except queue.JobLost:
        log.warning("job %s: lost its lease; another worker runs it now", job.id)
        return "lost"
    except queue.JobInterrupted:
        queue.release(vault, job.id, owner)
        return "released"
    except PERMANENT_ERRORS as exc:
        message = str(exc) or type(exc).__name__
        log.info("job %s (%s) failed: %s", job.id, job.step, message)
        queue.fail(vault, job.id, owner, message, permanent=True, settings=settings)
        return "failed"
    except Exception as exc:
        log.exception("job %s (%s) failed unexpectedly", job.id, job.step)
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, TestigoError) else str(exc)
        updated = queue.fail(vault, job.id, owner, message, settings=settings)
        if updated is None:
            return "lost"
        return "retry" if updated.status == "queued" else updated.status
    finally:
        beat.stop()


@dataclass
class WorkerReport:
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


class Worker:
    """Threads that claim and run jobs until stopped (or until there is nothing left to do)."""

    def __init__(
        self,
        vault: Vault,
        *,
        threads: int = 1,
        steps: Sequence[str] | None = None,
        settings: JobSettings | None = None,
        name: str | None = None,
    ) -> None:
        if threads < 1:
            raise UsageError("a worker needs at least one thread")
        self.vault = vault
        self.threads = threads
        self.steps = list(steps) if steps else None
        self.settings = settings or load_job_settings()
        self.name = name or worker_name()
        self.stopping = threading.Event()
        self.report = WorkerReport()
        self._lock = threading.Lock()
        self._busy = 0

    def stop(self) -> None:
        self.stopping.set()
        queue.wake_event().set()

    def run_once(self, owner: str) -> str | None:
        """Claim and run one job; None when nothing is runnable now."""
        job = queue.claim_next(self.vault, owner, steps=self.steps, settings=self.settings)
        if job is None:
            return None
        outcome = run_job(self.vault, job, owner, settings=self.settings, stopping=self.stopping)
        with self._lock:
            self.report.add(outcome)
        return outcome

    def _loop(self, number: int, until: Callable[[], bool] | None, idle_exit: bool) -> None:
        owner = f"{self.name}/{number}"
        wake = queue.wake_event()
        while not self.stopping.is_set():
            with self._lock:
                self._busy += 1
            try:
                outcome = self.run_once(owner)
            except Exception:  # the database went away: keep the worker alive, try again
                log.exception("worker %s could not claim a job", owner)
                outcome = None
            finally:
                with self._lock:
                    self._busy -= 1
            if outcome is not None:
                continue
            if until is not None and until():
                self.stop()
                return
            if idle_exit:
                with self._lock:
                    others_busy = self._busy > 0
                if not others_busy:
                    self.stop()
                    return
            wake.wait(self.settings.poll_seconds)
            wake.clear()

    def run(
        self,
        *,
        until: Callable[[], bool] | None = None,
        idle_exit: bool = False,
        handle_signals: bool = True,
    ) -> WorkerReport:
        """Work until stopped, until ``until()`` is true, or (``idle_exit``) the queue is empty."""
        from testigo.preload import preload_libraries

        preload_libraries()  # before the job threads start: see testigo/preload.py
        recovered = queue.recover_expired(self.vault)
        if recovered:
            log.info("re-queued %d job(s) whose worker had stopped", recovered)
        restore = self._install_signals() if handle_signals else None
        workers = [
            threading.Thread(
                target=self._loop, args=(n, until, idle_exit), name=f"worker-{n}", daemon=True
            )
            for n in range(self.threads)
        ]
        try:
            for thread in workers:
                thread.start()
            while any(t.is_alive() for t in workers):
                for thread in workers:
                    thread.join(timeout=0.2)
        finally:
            if restore is not None:
                restore()
        return self.report

    def start_background(self) -> threading.Thread:
        """Run in a daemon thread (for a web server); call ``stop()`` to end it."""
        from testigo.preload import preload_libraries

        preload_libraries()  # in the calling thread, before any job thread exists
        thread = threading.Thread(
            target=self.run, kwargs={"handle_signals": False}, name="testigo-worker", daemon=True
        )
        thread.start()
        return thread

    def _install_signals(self) -> Callable[[], None] | None:
        if threading.current_thread() is not threading.main_thread():
            return None
        previous: dict[int, Any] = {}

        def on_signal(number: int, _frame: FrameType | None) -> None:
            log.warning("stopping: finishing nothing new; running jobs go back to the queue")
            self.stop()
            # A second signal acts as usual (exits at once; leases expire and jobs are re-run).
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore
