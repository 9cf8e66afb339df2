"""The durable job queue: rows in the vault's own database, leased to one worker at a time.

A job is claimed by setting a lease (owner and expiry) in one transaction: PostgreSQL picks the row
with ``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on each other; SQLite already
holds its single write lock (every transaction starts with ``BEGIN IMMEDIATE``). The running worker
renews the lease while it works; if it dies, the lease runs out and the next claim takes the job
again. A failure is retried after an exponential backoff unless the input itself is at fault (bad
media will not get better), and nothing a job does ever stops another job from being claimed.

Results are stored in the same transaction that marks the job succeeded (see ``complete_in``),
after checking that this worker still holds the lease, so a job's results are kept exactly once
even when a worker thought dead comes back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from testigo.db.models import EvidenceItem
from testigo.errors import NotFoundError, TestigoError, UsageError
from testigo.jobs.config import JobSettings, load_job_settings
from testigo.jobs.models import FINISHED_STATUSES, JOB_STATUSES, Job
from testigo.vault.service import Vault

log = logging.getLogger(__name__)

# Names a second advisory-lock space on PostgreSQL: (this, item id) serialises enqueues per item.
PG_JOBS_LOCK = 0x746A6F62

VIDEO_STEPS = ("probe", "keyframes", "fingerprint", "speech", "transcript", "ocr")
AUDIO_STEPS = ("probe", "speech", "transcript")
IMAGE_STEPS = ("probe", "keyframes", "ocr")
UNKNOWN_STEPS = ("probe",)
# Content Credentials: for every type that can carry a C2PA manifest (protect.c2pa_formats).
CREDENTIAL_STEPS = ("c2pa",)
# Every step the queue accepts; ``steps.register_step`` adds to it.
STEP_NAMES: set[str] = {*VIDEO_STEPS, *CREDENTIAL_STEPS, "captions", "redact"}
ACTIVE_STATUSES = ("queued", "running", "succeeded")


class JobCancelled(TestigoError):
    """Somebody cancelled the job while it ran: its results are dropped."""


class JobLost(TestigoError):
    """Another worker holds the job now (this one's lease ran out): its results are dropped."""


class JobInterrupted(TestigoError):
    """The worker is shutting down: the job goes back to the queue, not counted as an attempt."""


def stamp(moment: datetime) -> str:
    """The fixed-width UTC form used by every time column, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_stamp(seconds_from_now: float = 0.0) -> str:
    return stamp(datetime.now(UTC) + timedelta(seconds=seconds_from_now))


def steps_for_media_type(media_type: str) -> tuple[str, ...]:
    """The analysis an item of this type gets on ingest: the media steps, and after ``probe`` the
    reading of its Content Credentials where the type can carry them (PDFs too)."""
    from testigo.protect.c2pa_formats import reads_c2pa

    steps = _media_steps(media_type)
    if not reads_c2pa(media_type):
        return steps
    return steps[:1] + CREDENTIAL_STEPS + steps[1:]


def _media_steps(media_type: str) -> tuple[str, ...]:
    major = media_type.split("/", 1)[0]
    if major == "video":
        return VIDEO_STEPS
    if major == "audio":
        return AUDIO_STEPS
    if major == "image":
        return IMAGE_STEPS
    if media_type == "application/octet-stream":
        # Unrecognised bytes: the probe says what they are, or says clearly they are not media.
        return UNKNOWN_STEPS
    return ()


def backoff_seconds(attempts: int, settings: JobSettings) -> float:
    """Seconds before attempt ``attempts + 1``: base, 2 x base, 4 x base... up to the cap."""
    return float(
        min(settings.backoff_max_seconds, settings.backoff_seconds * 2 ** max(0, attempts - 1))
    )


# --- notifications to workers in this process and to Celery ---------------------------------------

_wake = threading.Event()
_listeners: list[Callable[[Sequence[int]], None]] = []


def wake_event() -> threading.Event:
    """Set whenever this process queues work, so embedded workers need not wait for a poll."""
    return _wake


def add_listener(listener: Callable[[Sequence[int]], None]) -> None:
    _listeners.append(listener)


def _after_enqueue(job_ids: Sequence[int], settings: JobSettings) -> None:
    if not job_ids:
        return
    _wake.set()
    for listener in list(_listeners):
        try:
            listener(job_ids)
        except Exception:  # a listener's trouble must not undo a committed enqueue
            log.exception("a job listener failed")
    if settings.celery_broker:
        try:
            from testigo.jobs.celery_app import send_jobs

            send_jobs(job_ids)
        except Exception as exc:
            # The rows are committed: `testigo jobs dispatch` (or the periodic sweep) sends them.
            log.warning("could not hand jobs %s to Celery: %s", list(job_ids), exc)


# --- queueing ----------------------------------------------------------------------------------


def _lock_item(session: Session, item_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": PG_JOBS_LOCK, "b": item_id}
        )


def _check_step(step: str) -> None:
    if step not in STEP_NAMES:
        raise UsageError(
            f"unknown analysis step {step!r}; known steps: {', '.join(sorted(STEP_NAMES))}"
        )


def enqueue_steps(
    vault: Vault,
    item_id: int,
    steps: Iterable[str],
    *,
    params: dict[str, Any] | None = None,
    force: bool = False,
    actor: str | None = None,
    max_attempts: int | None = None,
    settings: JobSettings | None = None,
) -> list[tuple[Job, bool]]:
    """Queue ``steps`` for one item; (job, created) for each.

    Idempotent: a step already queued, running or done for the item is not queued again (its job
    is returned) unless ``force``. A failed or cancelled step is queued anew.
    """
    settings = settings or load_job_settings()
    wanted = list(dict.fromkeys(steps))
    for step in wanted:
        _check_step(step)
    out: list[tuple[Job, bool]] = []
    with vault.transaction() as session:
        _lock_item(session, item_id)
        if session.get(EvidenceItem, item_id) is None:
            raise NotFoundError(f"there is no item {item_id}")
        now = now_stamp()
        for step in wanted:
            if not force:
                existing = session.scalars(
                    select(Job)
                    .where(
                        Job.item_id == item_id,
                        Job.step == step,
                        Job.status.in_(ACTIVE_STATUSES),
                    )
                    .order_by(Job.id.desc())
                    .limit(1)
                ).first()
                if existing is not None:
                    out.append((existing, False))
                    continue
            job = Job(
                step=step,
                item_id=item_id,
                params=dict(params or {}),
                status="queued",
                attempts=0,
                max_attempts=max_attempts or settings.max_attempts,
                run_after=now,
                cancel_requested=False,
                progress=0.0,
                created_by=actor or vault.settings.actor,
                created_at=now,
                updated_at=now,
            )
            session.add(job)
            session.flush()
            out.append((job, True))
    _after_enqueue([job.id for job, created in out if created], settings)
    return out


def enqueue(
    vault: Vault,
    step: str,
    item_id: int,
    *,
    params: dict[str, Any] | None = None,
    force: bool = False,
    actor: str | None = None,
    max_attempts: int | None = None,
    settings: JobSettings | None = None,
) -> Job:
    """Queue one step for one item (see ``enqueue_steps``)."""
    return enqueue_steps(
        vault,
        item_id,
        [step],
        params=params,
        force=force,
        actor=actor,
        max_attempts=max_attempts,
        settings=settings,
    )[0][0]


# --- claiming and running ----------------------------------------------------------------------


def _claimable(now: str) -> Any:
    return or_(
        and_(Job.status == "queued", Job.run_after <= now),
        and_(Job.status == "running", Job.lease_until < now),
    )


def _start(job: Job, owner: str, now: str, lease_seconds: float) -> bool:
    """Lease ``job`` to ``owner``; False (and the job failed) if it has no attempts left."""
    if job.status == "running" and job.attempts >= job.max_attempts:
        _finish_failed(
            job,
            now,
            f"the worker running it stopped responding (lease expired) on attempt "
            f"{job.attempts} of {job.max_attempts}",
        )
        return False
    if job.status == "running":
        log.warning("job %s: lease of %s expired; taking it over", job.id, job.lease_owner)
    job.status = "running"
    job.attempts += 1
    job.lease_owner = owner
    job.lease_until = now_stamp(lease_seconds)
    job.started_at = now
    job.updated_at = now
    job.progress = 0.0
    job.message = f"attempt {job.attempts} of {job.max_attempts}"
    return True


def _finish_failed(job: Job, now: str, error: str) -> None:
    job.status = "failed"
    job.error = error[:4000]
    job.lease_owner = None
    job.lease_until = None
    job.finished_at = now
    job.updated_at = now
    job.message = None


def claim_next(
    vault: Vault,
    owner: str,
    *,
    steps: Sequence[str] | None = None,
    settings: JobSettings | None = None,
) -> Job | None:
    """Lease the oldest runnable job (queued and due, or running with an expired lease)."""
    settings = settings or load_job_settings()
    with vault.transaction() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        for _ in range(20):
            now = now_stamp()
            query = select(Job).where(_claimable(now)).order_by(Job.run_after, Job.id).limit(1)
            if steps:
                query = query.where(Job.step.in_(list(steps)))
            if postgres:
                query = query.with_for_update(skip_locked=True)
            job = session.scalars(query).first()
            if job is None:
                return None
            if _start(job, owner, now, settings.lease_seconds):
                session.flush()
                return job
            session.flush()
    return None


def claim_job(
    vault: Vault, job_id: int, owner: str, *, settings: JobSettings | None = None
) -> tuple[Job | None, str]:
    """Lease one given job (the Celery path); (None, why) when it is not runnable now."""
    settings = settings or load_job_settings()
    with vault.transaction() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        query = select(Job).where(Job.id == job_id)
        if postgres:
            query = query.with_for_update(skip_locked=True)
        job = session.scalars(query).first()
        if job is None:
            exists = postgres and session.get(Job, job_id) is not None
            return None, "busy" if exists else "missing"
        now = now_stamp()
        if job.status in FINISHED_STATUSES:
            return None, job.status
        if job.status == "queued" and job.run_after > now:
            return None, "not_due"
        if job.status == "running" and (job.lease_until or "") >= now:
            return None, "leased"
        if not _start(job, owner, now, settings.lease_seconds):
            return None, "failed"
        session.flush()
        return job, "claimed"


def heartbeat(
    vault: Vault,
    job_id: int,
    owner: str,
    *,
    progress: float | None = None,
    message: str | None = None,
    settings: JobSettings | None = None,
) -> str:
    """Renew the lease and record progress: "ok", "cancel" (cancel requested) or "lost"."""
    settings = settings or load_job_settings()
    with vault.transaction() as session:
        job = session.get(Job, job_id, with_for_update=_is_pg(session))
        if job is None or job.status != "running" or job.lease_owner != owner:
            return "lost"
        now = now_stamp()
        job.lease_until = now_stamp(settings.lease_seconds)
        job.updated_at = now
        if progress is not None:
            job.progress = max(0.0, min(1.0, float(progress)))
        if message is not None:
            job.message = message[:500]
        return "cancel" if job.cancel_requested else "ok"


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def complete_in(
    session: Session, job_id: int, owner: str, result: dict[str, Any] | None = None
) -> Job:
    """Mark the job succeeded inside the caller's transaction (the one storing its results).

    Raises ``JobLost`` or ``JobCancelled`` if this worker may no longer finish it, so the caller's
    transaction rolls back and its results are not kept.
    """
    job = session.get(Job, job_id, with_for_update=_is_pg(session))
    if job is None or job.status != "running" or job.lease_owner != owner:
        raise JobLost(f"job {job_id} is no longer leased to this worker")
    if job.cancel_requested:
        raise JobCancelled(f"job {job_id} was cancelled")
    now = now_stamp()
    job.status = "succeeded"
    job.progress = 1.0
    job.result = result or {}
    job.error = None
    job.message = None
    job.lease_owner = None
    job.lease_until = None
    job.finished_at = now
    job.updated_at = now
    session.flush()
    return job


def complete(vault: Vault, job_id: int, owner: str, result: dict[str, Any] | None = None) -> Job:
    with vault.transaction() as session:
        return complete_in(session, job_id, owner, result)


def fail(
    vault: Vault,
    job_id: int,
    owner: str,
    error: str,
    *,
    permanent: bool = False,
    settings: JobSettings | None = None,
) -> Job | None:
    """Record a failure: retried after a backoff while attempts remain, unless ``permanent``.

    Returns the job, or None if this worker no longer holds it (its failure is then moot).
    """
    settings = settings or load_job_settings()
    with vault.transaction() as session:
        job = session.get(Job, job_id, with_for_update=_is_pg(session))
        if job is None or job.status != "running" or job.lease_owner != owner:
            return None
        now = now_stamp()
        if job.cancel_requested:
            _finish_cancelled(job, now)
        elif permanent or job.attempts >= job.max_attempts:
            _finish_failed(job, now, error)
        else:
            delay = backoff_seconds(job.attempts, settings)
            job.status = "queued"
            job.error = error[:4000]
            job.run_after = now_stamp(delay)
            job.lease_owner = None
            job.lease_until = None
            job.updated_at = now
            job.message = f"attempt {job.attempts} failed; retrying in {delay:g} s"
        session.flush()
        return job


def _finish_cancelled(job: Job, now: str) -> None:
    job.status = "cancelled"
    job.lease_owner = None
    job.lease_until = None
    job.finished_at = now
    job.updated_at = now
    job.message = "cancelled"


def mark_cancelled(vault: Vault, job_id: int, owner: str) -> None:
    """The running worker saw the cancel request and stopped: nothing it made was kept."""
    with vault.transaction() as session:
        job = session.get(Job, job_id, with_for_update=_is_pg(session))
        if job is not None and job.status == "running" and job.lease_owner == owner:
            _finish_cancelled(job, now_stamp())


def release(vault: Vault, job_id: int, owner: str) -> None:
    """Give a job back (worker shutting down): queued again, this attempt not counted."""
    with vault.transaction() as session:
        job = session.get(Job, job_id, with_for_update=_is_pg(session))
        if job is None or job.status != "running" or job.lease_owner != owner:
            return
        now = now_stamp()
        job.status = "queued"
        job.attempts = max(0, job.attempts - 1)
        job.run_after = now
        job.lease_owner = None
        job.lease_until = None
        job.updated_at = now
        job.message = "returned to the queue when its worker stopped"


# --- what people do from the CLI and the web ---------------------------------------------------


def get_job(vault: Vault, job_id: int) -> Job:
    with vault.reading() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFoundError(f"there is no job {job_id}")
        return job


def cancel(vault: Vault, job_id: int) -> Job:
    """Cancel now if queued; ask the worker to stop at its next check if running."""
    with vault.transaction() as session:
        job = session.get(Job, job_id, with_for_update=_is_pg(session))
        if job is None:
            raise NotFoundError(f"there is no job {job_id}")
        if job.status in FINISHED_STATUSES:
            raise UsageError(f"job {job_id} has already {job.status}; there is nothing to cancel")
        if job.status == "queued":
            _finish_cancelled(job, now_stamp())
        else:
            job.cancel_requested = True
            job.updated_at = now_stamp()
            job.message = "cancel requested"
        session.flush()
        return job


def retry(vault: Vault, job_id: int, *, settings: JobSettings | None = None) -> Job:
    """Queue a failed or cancelled job again, with a fresh set of attempts."""
    settings = settings or load_job_settings()
    with vault.transaction() as session:
        job = session.get(Job, job_id, with_for_update=_is_pg(session))
        if job is None:
            raise NotFoundError(f"there is no job {job_id}")
        if job.status not in ("failed", "cancelled"):
            hint = (
                " (use `testigo analyze --force` to run it again)"
                if job.status == "succeeded"
                else ""
            )
            raise UsageError(
                f"job {job_id} is {job.status}; only failed or cancelled jobs are retried{hint}"
            )
        now = now_stamp()
        job.status = "queued"
        job.attempts = 0
        job.run_after = now
        job.cancel_requested = False
        job.error = None
        job.message = "queued again by hand"
        job.finished_at = None
        job.progress = 0.0
        job.updated_at = now
        session.flush()
    _after_enqueue([job_id], settings)
    return job


def list_jobs(
    vault: Vault,
    *,
    status: str | None = None,
    item_id: int | None = None,
    step: str | None = None,
    limit: int = 200,
) -> list[Job]:
    if status is not None and status not in JOB_STATUSES:
        raise UsageError(f"unknown job status {status!r}; use one of {', '.join(JOB_STATUSES)}")
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status == status)
    if item_id is not None:
        query = query.where(Job.item_id == item_id)
    if step is not None:
        query = query.where(Job.step == step)
    with vault.reading() as session:
        return list(session.scalars(query))


def jobs_by_id(vault: Vault, job_ids: Iterable[int]) -> list[Job]:
    ids = list(job_ids)
    with vault.reading() as session:
        return list(session.scalars(select(Job).where(Job.id.in_(ids)).order_by(Job.id)))


def status_counts(vault: Vault) -> dict[str, int]:
    with vault.reading() as session:
        rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
        counts = {status: 0 for status in JOB_STATUSES}
        counts.update({str(s): int(n) for s, n in rows})
        return counts


def recover_expired(vault: Vault) -> int:
    """Put jobs whose worker died back in the queue (or fail them if out of attempts)."""
    count = 0
    with vault.transaction() as session:
        now = now_stamp()
        query = select(Job).where(Job.status == "running", Job.lease_until < now)
        if _is_pg(session):
            query = query.with_for_update(skip_locked=True)
        for job in session.scalars(query):
            count += 1
            if job.attempts >= job.max_attempts:
                _finish_failed(
                    job,
                    now,
                    f"the worker running it stopped responding (lease expired) on attempt "
                    f"{job.attempts} of {job.max_attempts}",
                )
                continue
            job.status = "queued"
            job.run_after = now
            job.lease_owner = None
            job.lease_until = None
            job.updated_at = now
            job.message = "its worker stopped responding; queued again"
    if count:
        _wake.set()
    return count


def due_job_ids(vault: Vault, *, limit: int = 500) -> list[int]:
    """Jobs a worker could take now: for handing to Celery after an outage."""
    with vault.reading() as session:
        now = now_stamp()
        return list(
            session.scalars(
                select(Job.id).where(_claimable(now)).order_by(Job.run_after, Job.id).limit(limit)
            )
        )
