"""The match index is kept per process and refreshed incrementally: each job reads only the
fingerprints committed since the last one looked, including those another process stored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testigo.jobs import queue
from testigo.jobs.matchindex import cached_index, forget_cached_index, index_path, rebuild_index
from testigo.jobs.results import annotations_for
from testigo.vault.service import Vault

from .conftest import ingest, run_worker, synth

pytestmark = pytest.mark.slow


def _fingerprint(vault: Vault, item_id: int) -> None:
    job = queue.enqueue(vault, "fingerprint", item_id)
    run_worker(vault)
    done = queue.get_job(vault, job.id)
    assert done.status == "succeeded", done.error


def _counters(vault: Vault) -> tuple[int, int]:
    cache = cached_index(vault)
    assert cache is not None
    return cache.rows_read, cache.fingerprints_loaded


def _second_clip(original: Path, folder: Path) -> Path:
    """Another cut of the original recording (seconds 2-12), re-encoded differently."""
    frames = [f for t, f in synth.decode_rgb_frames(original) if 2.0 <= t < 12.0]
    return synth.write_video(folder / "clip2.mp4", frames, fps=5, crf=28)


def test_each_job_reads_only_new_fingerprints_including_other_processes(
    vault: Vault, media: dict[str, Path], tmp_path: Path, no_auto: None
) -> None:
    original = ingest(vault, media["original"]).item_id
    unrelated = ingest(vault, media["unrelated"]).item_id
    forget_cached_index(vault)
    _fingerprint(vault, original)
    assert _counters(vault) == (0, 0)  # the vault had no fingerprint yet
    _fingerprint(vault, unrelated)
    # The original's row was read; its fingerprint was not loaded again (this process made it).
    assert _counters(vault) == (1, 0)

    # Another process (a second worker, a Celery machine) fingerprints the clip.
    clip = ingest(vault, media["clip"]).item_id
    queue.enqueue(vault, "fingerprint", clip)
    other = subprocess.run(
        [sys.executable, "-m", "testigo", "worker", "--once"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert other.returncode == 0, other.stderr[-2000:]
    assert [m.data["other_item"] for m in annotations_for(vault, clip, kinds=["match"])] == [
        original
    ]

    # The next job here reads the two rows it has not seen (unrelated's and the clip's), loads
    # only the clip's fingerprint, and finds both the original and the other process's clip.
    clip2 = ingest(vault, _second_clip(media["original"], tmp_path)).item_id
    _fingerprint(vault, clip2)
    assert _counters(vault) == (3, 1)
    cache = cached_index(vault)
    assert cache is not None and cache.last_rows_read == 2
    found = {m.data["other_item"]: m.data for m in annotations_for(vault, clip2, kinds=["match"])}
    assert set(found) == {original, clip}
    assert found[original]["relationship"] == "clip_of"
    assert found[original]["other_start"] == pytest.approx(2.0, abs=1.5)

    # One more job reads one row (clip2's) and loads nothing: old rows are never read again.
    _fingerprint(vault, ingest(vault, media["video"]).item_id)
    assert _counters(vault) == (4, 1)
    assert cache.last_rows_read == 1
    assert sorted(cache.index.video_ids) == sorted(str(i) for i in cache.shas)
    assert len(cache.index) == 5


def test_a_new_process_starts_from_the_saved_index_and_reads_only_what_came_after(
    vault: Vault, media: dict[str, Path], no_auto: None
) -> None:
    original = ingest(vault, media["original"]).item_id
    unrelated = ingest(vault, media["unrelated"]).item_id
    _fingerprint(vault, original)
    _fingerprint(vault, unrelated)  # its refresh saved the index with the original in it
    assert index_path(vault).exists()

    forget_cached_index(vault)  # as if this were a new process
    clip = ingest(vault, media["clip"]).item_id
    _fingerprint(vault, clip)
    # From the file: the original; from the database: only the unrelated video's row.
    assert _counters(vault) == (1, 1)
    assert [m.data["other_item"] for m in annotations_for(vault, clip, kinds=["match"])] == [
        original
    ]

    # A saved index from another vault (or a damaged one) is not trusted: all is read again.
    index_path(vault).write_bytes(b"not an index")
    forget_cached_index(vault)
    assert rebuild_index(vault) == 3
    cache = cached_index(vault)
    assert cache is not None and cache.fingerprints_loaded == 3
    forget_cached_index(vault)
    _fingerprint(vault, ingest(vault, media["video"]).item_id)
    assert _counters(vault) == (0, 0)  # the rebuilt file was complete and current
