"""Bad input, step by step, as the worker meets it: truncated and corrupted files, zero-length
streams, audio-only and image-only "videos", absurd resolutions, files that are not media at all.
Each step fails at once with a clear message on the job (naming the item, never a temporary path
or a traceback), stores nothing (no derived item, no annotation, no ledger entry), and the other
jobs go on."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from testigo.db.models import EvidenceItem, ItemParent, LedgerEntry
from testigo.jobs import queue
from testigo.jobs.models import Annotation
from testigo.jobs.results import verify_annotations
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import ingest, run_worker, synth

pytestmark = pytest.mark.slow

ALL_STEPS = ("probe", "keyframes", "fingerprint", "speech", "transcript", "ocr")
PICTURE_STEPS = ("keyframes", "fingerprint", "ocr")
SOUND_STEPS = ("speech", "transcript")

# name -> (the steps that must fail on it, words one of which the message must contain)
CASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # Half of an MP4 whose index comes first: frames and sound stop far before the end.
    "truncated": (ALL_STEPS, ("truncated", "corrupt", "cut short", "stops")),
    # Half of a Matroska file (whose index, the cues, comes last).
    "truncated_mkv": (ALL_STEPS, ("truncated",)),
    # A real MP4 whose index (the moov box, at the start) is overwritten with random bytes.
    "corrupted_index": (ALL_STEPS, ("corrupt", "truncated", "damaged")),
    # A real MP4 whose pictures and sound (the middle third) are random bytes. Its container is
    # intact, so ``probe`` describes it; every step that decodes the streams fails.
    "corrupted_streams": (
        ("keyframes", "fingerprint", *SOUND_STEPS, "ocr"),
        ("corrupt", "truncated", "damaged", "decode"),
    ),
    # Random bytes, and text, under a video's name.
    "noise": (ALL_STEPS, ("not a recognised audio, video or image file",)),
    "text": (ALL_STEPS, ("not a recognised audio, video or image file",)),
    # Zero bytes.
    "empty": (ALL_STEPS, ("is empty (0 bytes)",)),
    # A video track with no frame in it (its sound track is fine).
    "empty_track": (("probe", *PICTURE_STEPS), ("empty", "no frame", "no video")),
    # A sound track with no sample in it (its pictures are fine).
    "empty_audio_track": (SOUND_STEPS, ("no sound could be decoded",)),
    # Sound only, given to the steps that need pictures.
    "audio_only": (PICTURE_STEPS, ("audio-only", "no video", "no pictures")),
    # A still picture under a video's name, given to the steps that need a video or sound.
    "image_only": (("fingerprint", *SOUND_STEPS), ("still image", "image", "no sound")),
    # A raw video claiming 16000x9000 frames.
    "absurd_video": (ALL_STEPS, ("16000x9000", "absurd", "too large")),
    # PNGs claiming 100000x100000 pixels (a decompression bomb) and 12000x9000 pixels.
    "absurd_image": (("probe", "keyframes", "ocr"), ("beyond what any camera takes",)),
    "huge_image": (("probe", "keyframes", "ocr"), ("12000x9000", "beyond what any camera")),
    # A PNG that breaks off after its header.
    "broken_image": (("probe", "keyframes", "ocr"), ("cannot be read", "damaged", "truncated")),
}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(path: Path, width: int, height: int, *, whole: bool = True) -> Path:
    """A PNG whose header claims ``width`` x ``height`` (with a token of pixel data)."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    rest = _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"") if whole else b""
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + rest)
    return path


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("badjobs")
    tone = 0.05 * np.sin(np.linspace(0, 2 * np.pi * 440 * 6, 6 * 16_000)).astype(np.float32)
    whole = synth.write_video(
        folder / "whole.mp4",
        synth.synth_frames(6, seed=21, text="CAM 9"),
        audio=tone,
        faststart=True,
    )
    data = whole.read_bytes()
    files: dict[str, Path] = {}
    files["truncated"] = folder / "truncated.mp4"
    files["truncated"].write_bytes(data[: len(data) // 2])
    mkv = synth.write_video(
        folder / "whole.mkv",
        synth.synth_frames(6, seed=22),
        audio=tone,
        container_format="matroska",
    ).read_bytes()
    files["truncated_mkv"] = folder / "truncated.mkv"
    files["truncated_mkv"].write_bytes(mkv[: len(mkv) // 2])
    rng = np.random.default_rng(4)
    moov = data.index(b"moov") - 4
    files["corrupted_index"] = folder / "corrupted_index.mp4"
    files["corrupted_index"].write_bytes(data[: moov + 64] + rng.bytes(600) + data[moov + 664 :])
    third = len(data) // 3
    files["corrupted_streams"] = folder / "corrupted_streams.mp4"
    files["corrupted_streams"].write_bytes(
        data[:third] + rng.bytes(len(data) - 2 * third) + data[len(data) - third :]
    )
    files["noise"] = folder / "noise.mov"
    files["noise"].write_bytes(rng.bytes(30_000))
    files["text"] = folder / "notes.mp4"
    files["text"].write_text("this is not a video\n" * 50)
    files["empty"] = folder / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["empty_track"] = synth.write_empty_video_track(folder / "empty_track.mkv")
    files["empty_audio_track"] = synth.write_empty_audio_track(folder / "silent_track.mkv")
    files["audio_only"] = synth.write_audio(folder / "voice.m4a", tone)
    files["image_only"] = synth.exif_jpeg(folder / "still.mp4", size=(96, 64))
    files["absurd_video"] = synth.absurd_y4m(folder / "absurd.y4m")
    files["absurd_image"] = _png(folder / "bomb.png", 100_000, 100_000)
    files["huge_image"] = _png(folder / "huge.png", 12_000, 9_000)
    files["broken_image"] = _png(folder / "broken.png", 640, 480, whole=False)
    return files


def _recorded(vault: Vault, item_ids: list[int]) -> dict[str, Any]:
    with vault.reading() as session:
        return {
            "derived": session.scalar(
                select(func.count())
                .select_from(ItemParent)
                .where(ItemParent.parent_id.in_(item_ids))
            ),
            "annotations": session.scalar(
                select(func.count()).select_from(Annotation).where(Annotation.item_id.in_(item_ids))
            ),
            "items": session.scalar(select(func.count()).select_from(EvidenceItem)),
            "ledger": session.scalar(select(func.count()).select_from(LedgerEntry)),
        }


# Pillow warns before it refuses the decompression bomb among the files; the refusal is asserted.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_every_step_fails_clearly_on_bad_input_and_stores_nothing(
    vault: Vault, bad_files: dict[str, Path], media: dict[str, Path], no_auto: None
) -> None:
    items = {name: ingest(vault, path) for name, path in bad_files.items()}
    good = ingest(vault, media["video"]).item_id
    before = _recorded(vault, [r.item_id for r in items.values()])
    jobs = {
        (name, step): queue.enqueue(vault, step, items[name].item_id)
        for name, (steps, _) in CASES.items()
        for step in steps
    }
    good_job = queue.enqueue(vault, "probe", good)
    run_worker(vault, threads=2)

    problems = []
    for (name, step), queued in jobs.items():
        job = queue.get_job(vault, queued.id)
        error = job.error or ""
        words = CASES[name][1]
        label = f"item {items[name].item_id} ("
        if (
            job.status != "failed"
            or job.attempts != 1  # bad input is not retried
            or not any(w in error.lower() for w in words)
            or label not in error
            or "Traceback" in error
            or "/tmp" in error
            or "job" + str(job.id) in error
        ):
            problems.append((name, step, job.status, job.attempts, error))
    assert not problems, "\n".join(map(str, problems))

    # Nothing from any failed step: no derived item, no annotation, no ledger entry.
    after = _recorded(vault, [r.item_id for r in items.values()])
    assert after["derived"] == before["derived"] == 0
    assert after["annotations"] == before["annotations"] == 0
    assert after["items"] == before["items"]
    assert after["ledger"] == before["ledger"] + 1  # the good probe's annotations only
    assert queue.get_job(vault, good_job.id).status == "succeeded"
    assert verify_vault(vault).ok and verify_annotations(vault).ok


def test_captions_that_are_not_captions_fail_clearly_and_store_nothing(
    vault: Vault, media: dict[str, Path], tmp_path: Path, no_auto: None
) -> None:
    video = ingest(vault, media["video"]).item_id
    cases = {
        "binary.srt": (np.random.default_rng(2).bytes(4000), ("caption", "binary", "not")),
        "empty.vtt": (b"WEBVTT\n\n", ("no cue", "caption", "empty")),
        "backwards.srt": (
            b"1\n00:00:05,000 --> 00:00:01,000\nback in time\n",
            ("time", "backwards", "impossible"),
        ),
    }
    jobs = {}
    for filename, (data, _) in cases.items():
        path = tmp_path / filename
        path.write_bytes(data)
        source = ingest(vault, path).item_id
        jobs[filename] = queue.enqueue(
            vault,
            "captions",
            video,
            params={"source_item": source, "filename": filename},
            force=True,
        )
    before = _recorded(vault, [video])
    run_worker(vault)
    for filename, queued in jobs.items():
        job = queue.get_job(vault, queued.id)
        error = (job.error or "").lower()
        assert job.status == "failed" and job.attempts == 1, (filename, job.status, job.error)
        assert any(w in error for w in cases[filename][1]), (filename, job.error)
        assert "traceback" not in error
    assert _recorded(vault, [video]) == before
