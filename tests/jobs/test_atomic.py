"""A step's results are all or nothing: derived items, annotations, their ledger entries and the
job's success commit together. A step that fails halfway (or whose worker is killed) leaves no
row and no ledger entry; other jobs go on; a retry then stores everything exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from testigo.db.models import EvidenceItem, ItemParent, LedgerEntry
from testigo.jobs import context, queue
from testigo.jobs.config import JobSettings
from testigo.jobs.matchindex import cached_index
from testigo.jobs.models import Annotation
from testigo.jobs.results import annotations_for, verify_annotations
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import FAST, ingest, run_worker

pytestmark = pytest.mark.slow

ONE_TRY = JobSettings(
    lease_seconds=FAST.lease_seconds,
    backoff_seconds=FAST.backoff_seconds,
    backoff_max_seconds=FAST.backoff_max_seconds,
    max_attempts=1,
    poll_seconds=FAST.poll_seconds,
)


def _state(vault: Vault, item_id: int) -> dict[str, Any]:
    """Everything a step could have recorded about one item, and the ledger's entry types."""
    with vault.reading() as session:
        derived = session.scalar(
            select(func.count()).select_from(ItemParent).where(ItemParent.parent_id == item_id)
        )
        notes = session.scalar(
            select(func.count()).select_from(Annotation).where(Annotation.item_id == item_id)
        )
        items = session.scalar(select(func.count()).select_from(EvidenceItem))
        types = list(session.scalars(select(LedgerEntry.entry_type).order_by(LedgerEntry.seq)))
    return {"derived": derived, "annotations": notes, "items": items, "ledger": types}


def _fail_on_call(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, number: int
) -> dict[str, int]:
    """Make ``owner.name`` raise on its ``number``-th call; returns the call counter."""
    real: Callable[..., Any] = getattr(owner, name)
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == number:
            raise RuntimeError(f"simulated failure in {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return calls


@pytest.mark.parametrize(
    ("media_name", "step", "target", "call"),
    [
        # The second keyframe's record, after the first was written in the same transaction.
        ("video", "keyframes", "record_derived", 2),
        # The annotations, after the fingerprint's derived item was written.
        ("original", "fingerprint", "write_annotations", 1),
        # The thumbnail of a photo: its one derived item, then the annotations fail.
        ("image", "keyframes", "write_annotations", 1),
    ],
)
def test_a_step_failing_midway_keeps_nothing_then_a_retry_keeps_everything_once(
    vault: Vault,
    media: dict[str, Path],
    no_auto: None,
    monkeypatch: pytest.MonkeyPatch,
    media_name: str,
    step: str,
    target: str,
    call: int,
) -> None:
    item = ingest(vault, media[media_name]).item_id
    bystander = ingest(vault, media["audio"]).item_id
    before = _state(vault, item)
    job = queue.enqueue(vault, step, item, max_attempts=1)
    other = queue.enqueue(vault, "probe", bystander, max_attempts=1)
    calls = _fail_on_call(monkeypatch, context, target, call)
    run_worker(vault, settings=ONE_TRY)
    assert calls["n"] >= call  # the failure happened inside the step's commit

    failed = queue.get_job(vault, job.id)
    assert failed.status == "failed"
    assert failed.error == f"RuntimeError: simulated failure in {target}"
    after = _state(vault, item)
    assert after["derived"] == 0 and after["annotations"] == 0
    assert after["items"] == before["items"]
    # The only new ledger entry is the bystander's probe: the failed step left none.
    assert after["ledger"] == [*before["ledger"], "annotation.add"]
    assert queue.get_job(vault, other.id).status == "succeeded"
    if step == "fingerprint":
        cache = cached_index(vault)
        assert cache is not None and str(item) not in cache.index  # nothing half-indexed

    monkeypatch.undo()
    queue.retry(vault, job.id)
    run_worker(vault, settings=ONE_TRY)
    done = queue.get_job(vault, job.id)
    assert done.status == "succeeded", done.error
    final = _state(vault, item)
    new_types = final["ledger"][len(after["ledger"]) :]
    derived_entries = new_types.count("evidence.derive")
    # Every derived file once: one item, one parent link and one ledger entry each.
    assert derived_entries >= 1 and new_types.count("annotation.add") == 1
    assert final["derived"] == derived_entries
    assert final["items"] == before["items"] + derived_entries
    rows = annotations_for(vault, item)
    assert rows and {r.job_id for r in rows} == {job.id}
    assert len({r.ledger_seq for r in rows}) == 1
    assert verify_vault(vault).ok and verify_annotations(vault).ok


def test_blob_store_failing_midway_is_retried_and_stored_once(
    vault: Vault, media: dict[str, Path], no_auto: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store goes away while keyframes are written: retried, and only the retry is kept."""
    item = ingest(vault, media["video"]).item_id
    before = _state(vault, item)
    job = queue.enqueue(vault, "keyframes", item)
    calls = _fail_on_call(monkeypatch, vault.blobs, "put_stream", 2)
    report = run_worker(vault)
    assert calls["n"] > 2
    assert report.outcomes == {"retry": 1, "succeeded": 1}
    done = queue.get_job(vault, job.id)
    assert done.status == "succeeded" and done.attempts == 2
    after = _state(vault, item)
    new_types = after["ledger"][len(before["ledger"]) :]
    keyframes = annotations_for(vault, item, kinds=["keyframe"])
    thumbnails = annotations_for(vault, item, kinds=["thumbnail"])
    assert len(thumbnails) == 1 and keyframes
    assert new_types.count("evidence.derive") == len(keyframes) + 1
    assert new_types.count("annotation.add") == 1
    assert after["derived"] == len(keyframes) + 1
    assert verify_vault(vault).ok and verify_annotations(vault).ok


CHILD = """
import os, time
from pathlib import Path
from testigo.config import load_settings
from testigo.vault.service import open_vault
from testigo.jobs import steps
from testigo.jobs.config import JobSettings
from testigo.jobs.worker import Worker

signal_file = Path(os.environ["SIGNAL_FILE"])
real = steps.STEPS["keyframes"].function

def keyframes_then_hang(ctx):
    output = real(ctx)  # every keyframe's blob is written; no row is
    signal_file.write_text(str(len(output.derived)))
    while True:
        time.sleep(0.2)

steps.register_step("keyframes", keyframes_then_hang)
vault = open_vault(load_settings())
Worker(vault, settings=JobSettings(lease_seconds=2.0, poll_seconds=0.05)).run()
"""


def test_worker_killed_after_writing_blobs_leaves_no_rows(
    vault: Vault, media: dict[str, Path], tmp_path: Path, no_auto: None
) -> None:
    item = ingest(vault, media["video"]).item_id
    before = _state(vault, item)
    job = queue.enqueue(vault, "keyframes", item)
    signal_file = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD)],
        env={**os.environ, "SIGNAL_FILE": str(signal_file)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not signal_file.exists() or not signal_file.read_text():
            assert child.poll() is None, child.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the worker never reached the job"
            time.sleep(0.02)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert int(signal_file.read_text()) >= 2  # keyframes and a thumbnail were in the store
    assert _state(vault, item) == before  # and nothing names them

    fast = JobSettings(lease_seconds=2.0, poll_seconds=0.05)
    time.sleep(2.2)  # the dead worker's lease runs out
    report = run_worker(vault, settings=fast)
    assert report.outcomes == {"succeeded": 1}
    done = queue.get_job(vault, job.id)
    assert done.status == "succeeded" and done.attempts == 2
    after = _state(vault, item)
    keyframes = annotations_for(vault, item, kinds=["keyframe"])
    assert after["derived"] == len(keyframes) + 1
    assert after["items"] == before["items"] + len(keyframes) + 1
    new_types = after["ledger"][len(before["ledger"]) :]
    assert new_types.count("evidence.derive") == len(keyframes) + 1
    assert new_types.count("annotation.add") == 1
    assert verify_vault(vault).ok and verify_annotations(vault).ok


def test_caption_import_is_all_or_nothing(
    vault: Vault, media: dict[str, Path], no_auto: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testigo.jobs import transcripts

    item = ingest(vault, media["video"]).item_id
    before = _state(vault, item)
    data = b"1\n00:00:01,000 --> 00:00:02,500\nOpen the door.\n"
    _fail_on_call(monkeypatch, transcripts, "write_annotations", 1)
    with pytest.raises(RuntimeError, match="simulated failure"):
        transcripts.import_captions(vault, item, data, "door.srt", "test:alice")
    assert _state(vault, item) == before  # not the caption file's item, not its ledger entry
    monkeypatch.undo()
    info = transcripts.import_captions(vault, item, data, "door.srt", "test:alice")
    after = _state(vault, item)
    assert after["derived"] == 1 and after["annotations"] == 2  # the transcript and its line
    assert after["ledger"] == [*before["ledger"], "evidence.derive", "annotation.add"]
    assert info.lines == 1 and verify_annotations(vault).ok
