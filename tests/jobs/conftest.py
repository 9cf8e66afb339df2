"""Fixtures for the job tests: tiny media made once per session, and helpers to run a worker."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from testigo.jobs.config import JobSettings
from testigo.jobs.worker import Worker, WorkerReport
from testigo.vault.ingest import Acquired, IngestResult, ingest_paths
from testigo.vault.service import Vault

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from media import synth as synth  # the tests import it from here

FAST = JobSettings(
    lease_seconds=5.0,
    backoff_seconds=0.2,
    backoff_max_seconds=1.0,
    max_attempts=3,
    poll_seconds=0.05,
)


@pytest.fixture(autouse=True)
def _quiet_queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Short polls and backoffs for every queue call; no Celery unless a test asks."""
    monkeypatch.setenv("TESTIGO_JOB_POLL_SECONDS", "0.05")
    monkeypatch.setenv("TESTIGO_JOB_BACKOFF_SECONDS", "0.2")
    monkeypatch.setenv("TESTIGO_JOB_BACKOFF_MAX_SECONDS", "1")
    monkeypatch.setenv("TESTIGO_JOB_LEASE_SECONDS", "5")
    monkeypatch.delenv("TESTIGO_CELERY_BROKER", raising=False)
    yield


@pytest.fixture
def no_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTIGO_AUTO_ANALYZE", "0")


def run_worker(vault: Vault, *, threads: int = 1, settings: JobSettings = FAST) -> WorkerReport:
    """Run jobs until none is queued or running (retries waiting out their backoff included)."""
    from testigo.jobs import queue

    def settled() -> bool:
        counts = queue.status_counts(vault)
        return counts["queued"] == 0 and counts["running"] == 0

    return Worker(vault, threads=threads, settings=settings).run(
        until=settled, handle_signals=False
    )


def ingest(vault: Vault, path: Path) -> IngestResult:
    report = ingest_paths(vault, [path], Acquired(actor="test:alice"))
    assert not report.refused, report.refused
    return report.ingested[0]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny files: a video with sound, its re-encoded clip, audio only, an image, bad files."""
    folder = tmp_path_factory.mktemp("jobmedia")
    tone = 0.05 * np.sin(np.linspace(0, 2 * np.pi * 440 * 4, 4 * 16_000)).astype(np.float32)
    files: dict[str, Path] = {}
    files["video"] = synth.write_video(
        folder / "phone.mp4", synth.synth_frames(4, seed=3, text="CAM 2"), audio=tone
    )
    original = synth.write_video(
        folder / "original.mp4",
        synth.synth_frames(20, width=320, height=180, fps=5, seed=11),
        fps=5,
    )
    files["original"] = original
    frames = [f for t, f in synth.decode_rgb_frames(original) if 6.0 <= t < 16.0]
    files["clip"] = synth.write_video(
        folder / "clip.mp4", [synth.letterbox(f, 240, 240) for f in frames], fps=5, crf=32
    )
    files["unrelated"] = synth.write_video(
        folder / "unrelated.mp4",
        synth.synth_frames(8, width=320, height=180, fps=5, seed=99),
        fps=5,
    )
    files["audio"] = synth.write_audio(folder / "voice.m4a", tone)
    files["image"] = synth.exif_jpeg(folder / "photo.jpg", size=(96, 64))
    data = files["video"].read_bytes()
    files["truncated"] = folder / "truncated.mp4"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["empty"] = folder / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["text"] = folder / "notes.mp4"
    files["text"].write_text("this is not a video\n" * 50)
    files["noise"] = folder / "noise.mov"
    files["noise"].write_bytes(np.random.default_rng(1).bytes(20_000))
    return files
