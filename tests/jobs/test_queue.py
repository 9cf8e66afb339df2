"""The queue on its own: idempotent enqueue, leases, retries with backoff, cancel, isolation."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from testigo.errors import NotFoundError, UsageError
from testigo.jobs import queue
from testigo.jobs.config import JobSettings
from testigo.jobs.context import StepContext, StepOutput
from testigo.jobs.models import Annotation, Job
from testigo.jobs.results import NewAnnotation, verify_annotations
from testigo.jobs.steps import STEPS, register_step
from testigo.jobs.worker import Worker
from testigo.vault.derive import store_derived
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import FAST, run_worker


def _item(vault: Vault) -> int:
    """An item without triggering media analysis (derived items are not auto-queued)."""
    import io

    from testigo.vault.ingest import Acquired, store_stream

    result = store_stream(
        vault,
        io.BytesIO(b"plain text evidence\n"),
        name="note.txt",
        acquired=Acquired(actor="test:alice"),
    )
    return result.item_id


@pytest.fixture
def steps() -> dict[str, int]:
    """Test steps: 'flaky' fails twice, 'slow' works in chunks, 'note' writes one annotation."""
    calls = {"flaky": 0}

    def flaky(ctx: StepContext) -> StepOutput:
        calls["flaky"] += 1
        if calls["flaky"] <= 2:
            raise RuntimeError(f"transient trouble #{calls['flaky']}")
        return StepOutput([NewAnnotation(ctx.item_id, "note", {"ok": True})], {"calls": 3})

    def slow(ctx: StepContext) -> StepOutput:
        for n in range(200):
            time.sleep(0.05)
            ctx.progress(n / 200, f"chunk {n}")
        return StepOutput([NewAnnotation(ctx.item_id, "note", {"slow": True})])

    def note(ctx: StepContext) -> StepOutput:
        return StepOutput([NewAnnotation(ctx.item_id, "note", {"n": 1}, 0.0, 1.0)])

    def broken(ctx: StepContext) -> StepOutput:
        from testigo.media import MediaError

        raise MediaError("the file is corrupt (test)")

    saved = dict(STEPS)
    for name, fn in (("flaky", flaky), ("slow", slow), ("note", note), ("broken", broken)):
        register_step(name, fn)
    yield calls
    STEPS.clear()
    STEPS.update(saved)


def _annotations(vault: Vault) -> int:
    with vault.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Annotation)) or 0)


def test_enqueue_is_idempotent_unless_forced(vault: Vault, steps: dict[str, int]) -> None:
    item = _item(vault)
    first = queue.enqueue(vault, "note", item)
    again = queue.enqueue(vault, "note", item)
    assert again.id == first.id
    forced = queue.enqueue(vault, "note", item, force=True)
    assert forced.id != first.id
    with pytest.raises(UsageError, match="unknown analysis step"):
        queue.enqueue(vault, "nonsense", item)
    with pytest.raises(NotFoundError):
        queue.enqueue(vault, "note", 99_999)
    # A failed step is queued anew by a plain enqueue.
    job = queue.enqueue(vault, "broken", item)
    run_worker(vault)
    assert queue.get_job(vault, job.id).status == "failed"
    assert queue.enqueue(vault, "broken", item).id != job.id


def test_retry_with_exponential_backoff(vault: Vault, steps: dict[str, int]) -> None:
    assert [queue.backoff_seconds(n, FAST) for n in (1, 2, 3, 4, 5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    item = _item(vault)
    job = queue.enqueue(vault, "flaky", item, settings=FAST)
    owner = "test-worker"
    claimed = queue.claim_next(vault, owner, settings=FAST)
    assert claimed is not None and claimed.id == job.id
    from testigo.jobs.worker import run_job

    assert run_job(vault, claimed, owner, settings=FAST) == "retry"
    row = queue.get_job(vault, job.id)
    assert row.status == "queued" and row.attempts == 1
    assert "transient trouble #1" in (row.error or "")
    assert row.run_after > queue.now_stamp()  # not due yet: backoff
    assert queue.claim_next(vault, owner, settings=FAST) is None
    report = run_worker(vault)
    assert report.outcomes == {"retry": 1, "succeeded": 1}
    row = queue.get_job(vault, job.id)
    assert row.status == "succeeded" and row.attempts == 3 and steps["flaky"] == 3
    assert row.error is None and row.result and row.result["calls"] == 3


def test_permanent_error_is_not_retried(vault: Vault, steps: dict[str, int]) -> None:
    job = queue.enqueue(vault, "broken", _item(vault))
    run_worker(vault)
    row = queue.get_job(vault, job.id)
    assert row.status == "failed" and row.attempts == 1
    assert row.error == "the file is corrupt (test)"
    again = queue.retry(vault, job.id)
    assert again.status == "queued" and again.attempts == 0
    with pytest.raises(UsageError):
        queue.retry(vault, queue.enqueue(vault, "note", _item(vault)).id)


def test_failing_job_does_not_block_others(vault: Vault, steps: dict[str, int]) -> None:
    item = _item(vault)
    bad = queue.enqueue(vault, "broken", item)
    flaky = queue.enqueue(vault, "flaky", item, max_attempts=1)
    good = queue.enqueue(vault, "note", item)
    run_worker(vault, threads=2)
    assert queue.get_job(vault, bad.id).status == "failed"
    assert queue.get_job(vault, flaky.id).status == "failed"
    assert queue.get_job(vault, good.id).status == "succeeded"
    assert _annotations(vault) == 1
    assert verify_vault(vault).ok and verify_annotations(vault).ok


def test_cancel_queued_and_running(vault: Vault, steps: dict[str, int]) -> None:
    item = _item(vault)
    queued = queue.enqueue(vault, "note", item)
    assert queue.cancel(vault, queued.id).status == "cancelled"
    with pytest.raises(UsageError, match="nothing to cancel"):
        queue.cancel(vault, queued.id)

    job = queue.enqueue(vault, "slow", item)
    settings = JobSettings(lease_seconds=3, poll_seconds=0.05)
    worker = Worker(vault, settings=settings)
    thread = threading.Thread(
        target=worker.run, kwargs={"idle_exit": True, "handle_signals": False}
    )
    thread.start()
    deadline = time.monotonic() + 30
    while queue.get_job(vault, job.id).progress < 0.05:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert queue.cancel(vault, job.id).cancel_requested
    thread.join(timeout=30)
    row = queue.get_job(vault, job.id)
    assert row.status == "cancelled" and row.progress < 1.0
    assert _annotations(vault) == 0  # nothing it made was kept


def test_expired_lease_is_taken_over_and_the_old_worker_cannot_finish(
    vault: Vault, steps: dict[str, int]
) -> None:
    job = queue.enqueue(vault, "note", _item(vault))
    short = JobSettings(lease_seconds=1.0)
    first = queue.claim_next(vault, "worker-a", settings=short)
    assert first is not None and first.attempts == 1
    assert queue.claim_next(vault, "worker-b", settings=short) is None  # leased
    time.sleep(1.2)
    second = queue.claim_next(vault, "worker-b", settings=short)
    assert second is not None and second.id == job.id and second.attempts == 2
    assert queue.heartbeat(vault, job.id, "worker-a") == "lost"
    with pytest.raises(queue.JobLost), vault.transaction() as session:
        queue.complete_in(session, job.id, "worker-a")
    queue.complete(vault, job.id, "worker-b", {"done": True})
    assert queue.get_job(vault, job.id).status == "succeeded"


def test_lease_expiry_uses_up_attempts(vault: Vault, steps: dict[str, int]) -> None:
    job = queue.enqueue(vault, "note", _item(vault), max_attempts=1)
    assert queue.claim_next(vault, "w", settings=JobSettings(lease_seconds=1.0)) is not None
    time.sleep(1.2)
    assert queue.recover_expired(vault) == 1
    row = queue.get_job(vault, job.id)
    assert row.status == "failed" and "lease expired" in (row.error or "")


def test_list_and_counts(vault: Vault, steps: dict[str, int]) -> None:
    item = _item(vault)
    queue.enqueue_steps(vault, item, ["note", "broken"])
    run_worker(vault)
    assert {j.step for j in queue.list_jobs(vault, status="failed")} == {"broken"}
    assert queue.status_counts(vault)["succeeded"] == 1
    with pytest.raises(UsageError):
        queue.list_jobs(vault, status="weird")


def test_annotations_are_append_only(vault: Vault, steps: dict[str, int]) -> None:
    queue.enqueue(vault, "note", _item(vault))
    run_worker(vault)
    with pytest.raises(Exception, match="append-only"), vault.transaction() as session:
        session.execute(Annotation.__table__.update().values(kind="other"))
    with pytest.raises(Exception, match="append-only"), vault.transaction() as session:
        session.execute(Annotation.__table__.delete())
    assert verify_annotations(vault).ok


def test_ingest_never_fails_because_of_the_queue(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from testigo.jobs import auto

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("queue is down")

    monkeypatch.setattr(auto, "enqueue_steps", explode)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    from testigo.vault.ingest import Acquired, ingest_paths

    report = ingest_paths(vault, [video], Acquired(actor="test:alice"))
    assert len(report.ingested) == 1 and not report.refused
    with vault.reading() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
    _ = store_derived  # derived items never queue analysis
