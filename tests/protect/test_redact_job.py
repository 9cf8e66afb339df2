"""Redaction as a background job: queued, run by a worker with progress, result ledgered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from testigo.db.models import EvidenceItem, LedgerEntry
from testigo.jobs import queue
from testigo.jobs.worker import Worker
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import ingest
from .facesynth import FaceClip


def test_redact_job_runs_and_stores_a_copy(vault: Vault, face_clip: FaceClip) -> None:
    item = ingest(vault, face_clip.path)
    job = queue.enqueue(
        vault,
        "redact",
        item,
        params={"faces": "all", "mute": [], "actor": "web:investigator"},
        force=True,
    )
    Worker(vault, threads=1, steps=["redact"]).run(idle_exit=True, handle_signals=False)
    done = queue.get_job(vault, job.id)
    assert done.status == "succeeded", done.error
    assert done.result is not None
    copy_id = done.result["item_id"]
    with vault.reading() as session:
        copy = session.get(EvidenceItem, copy_id)
        assert copy is not None
        assert copy.details["derivation"] == "redact"
    assert verify_vault(vault).ok


def test_redact_job_bad_input_fails_once_with_a_message(vault: Vault, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 20)
    item = ingest(vault, text)
    job = queue.enqueue(vault, "redact", item, params={"faces": "all"}, force=True)
    Worker(vault, threads=1, steps=["redact"]).run(idle_exit=True, handle_signals=False)
    done = queue.get_job(vault, job.id)
    assert done.status == "failed"
    assert done.error  # a plain message, recorded on the job
    assert done.attempts == 1  # bad input is not retried
    with vault.reading() as session:
        derived = session.query(EvidenceItem).filter(EvidenceItem.kind != "original").count()
    assert derived == 0


def test_cli_background_queues_a_job(vault: Vault, face_clip: FaceClip, run_main) -> None:  # type: ignore[no-untyped-def]
    import json

    item = ingest(vault, face_clip.path)
    code, out, _ = run_main("redact", str(item), "--mute", "0.5-1", "--background", "--json")
    assert code == 0, out
    job = json.loads(out)
    assert job["step"] == "redact" and job["status"] == "queued"
    assert job["params"]["mute"] == ["0.5-1.0"]


def test_redact_job_is_all_or_nothing(
    vault: Vault, face_clip: FaceClip, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while the job's results are recorded leaves no copy; the retry makes one."""
    from testigo.jobs import context

    item = ingest(vault, face_clip.path)
    job = queue.enqueue(
        vault,
        "redact",
        item,
        params={"faces": "all", "actor": "web:investigator"},
        force=True,
        max_attempts=1,
    )
    real = context.write_annotations

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("simulated failure while recording")

    monkeypatch.setattr(context, "write_annotations", broken)
    Worker(vault, threads=1, steps=["redact"]).run(idle_exit=True, handle_signals=False)
    failed = queue.get_job(vault, job.id)
    assert failed.status == "failed" and failed.attempts == 1
    assert "simulated failure while recording" in (failed.error or "")
    with vault.reading() as session:
        assert session.query(EvidenceItem).filter(EvidenceItem.kind == "redacted").count() == 0
        entries = session.query(LedgerEntry).filter(LedgerEntry.entry_type == "evidence.derive")
        assert entries.count() == 0
    assert verify_vault(vault).ok

    monkeypatch.setattr(context, "write_annotations", real)
    queue.retry(vault, job.id)
    Worker(vault, threads=1, steps=["redact"]).run(idle_exit=True, handle_signals=False)
    done = queue.get_job(vault, job.id)
    assert done.status == "succeeded", done.error
    with vault.reading() as session:
        copies = session.query(EvidenceItem).filter(EvidenceItem.kind == "redacted").all()
        assert [c.id for c in copies] == [done.result["item_id"]]
    assert verify_vault(vault).ok
