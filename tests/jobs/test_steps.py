"""The analysis steps on real (tiny) media: results stored, ledgered and verifiable; bad input
fails clearly with nothing stored; clips of one recording found in both directions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from testigo.db.models import EvidenceItem, ItemParent
from testigo.jobs import queue
from testigo.jobs.matchindex import index_path, rebuild_index
from testigo.jobs.models import Annotation, Job
from testigo.jobs.results import annotations_for, verify_annotations
from testigo.jobs.transcripts import current_transcript
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import ingest, run_worker, synth


def _counts(vault: Vault) -> tuple[int, int]:
    with vault.reading() as session:
        items = session.scalar(select(func.count()).select_from(EvidenceItem)) or 0
        notes = session.scalar(select(func.count()).select_from(Annotation)) or 0
        return int(items), int(notes)


def _jobs(vault: Vault, item_id: int) -> dict[str, Job]:
    return {j.step: j for j in queue.list_jobs(vault, item_id=item_id)}


def test_ingest_queues_the_steps_suited_to_each_media_type(
    vault: Vault, media: dict[str, Path]
) -> None:
    # Each media step, plus reading the Content Credentials (C2PA) these formats can carry.
    video = ingest(vault, media["video"])
    assert set(_jobs(vault, video.item_id)) == {*queue.VIDEO_STEPS, "c2pa"}
    audio = ingest(vault, media["audio"])
    assert set(_jobs(vault, audio.item_id)) == {*queue.AUDIO_STEPS, "c2pa"}
    image = ingest(vault, media["image"])
    assert set(_jobs(vault, image.item_id)) == {*queue.IMAGE_STEPS, "c2pa"}
    text = ingest(vault, media["text"])
    assert _jobs(vault, text.item_id) == {}
    before = len(queue.list_jobs(vault))
    again = ingest(vault, media["video"])
    assert again.duplicate and len(queue.list_jobs(vault)) == before


@pytest.mark.slow
def test_video_analysis_is_stored_ledgered_and_verifiable(
    vault: Vault, media: dict[str, Path], no_auto: None
) -> None:
    video = ingest(vault, media["video"])
    queue.enqueue_steps(
        vault, video.item_id, ["probe", "keyframes", "fingerprint", "speech", "ocr"]
    )
    run_worker(vault)
    jobs = _jobs(vault, video.item_id)
    assert {s: j.status for s, j in jobs.items()} == {s: "succeeded" for s in jobs}, [
        (j.step, j.error) for j in jobs.values()
    ]
    kinds = {a.kind for a in annotations_for(vault, video.item_id)}
    assert {"probe", "keyframe", "thumbnail", "fingerprint"} <= kinds
    probe = annotations_for(vault, video.item_id, kinds=["probe"])[0]
    assert probe.data["kind"] == "video" and probe.end_seconds == pytest.approx(4.0, abs=0.5)
    keyframes = annotations_for(vault, video.item_id, kinds=["keyframe"])
    assert keyframes[0].start_seconds == 0.0
    with vault.reading() as session:
        derived = session.scalars(
            select(EvidenceItem)
            .join(ItemParent, ItemParent.item_id == EvidenceItem.id)
            .where(ItemParent.parent_id == video.item_id)
        ).all()
        relations = set(
            session.scalars(
                select(ItemParent.relation).where(ItemParent.parent_id == video.item_id)
            )
        )
    assert {"keyframe", "thumbnail", "fingerprint"} <= relations
    assert all(d.kind == "derived" for d in derived)
    for row in keyframes:
        assert vault.blobs.exists(row.data["sha256"])
    # Every annotation batch is committed to by a ledger entry; the ledger still verifies.
    assert all(a.ledger_seq > 0 for a in annotations_for(vault, video.item_id))
    assert verify_annotations(vault).ok
    assert verify_vault(vault).ok
    # Derived items are not themselves queued for analysis.
    assert {j.item_id for j in queue.list_jobs(vault)} == {video.item_id}


@pytest.mark.slow
def test_bad_inputs_fail_clearly_and_store_nothing(
    vault: Vault, media: dict[str, Path], no_auto: None
) -> None:
    cases = {
        "truncated": ("keyframes", ["truncat", "corrupt"]),
        "empty": ("probe", ["empty"]),
        "text": ("probe", ["not", "media"]),
        "noise": ("fingerprint", ["not", "media"]),
        "audio": ("keyframes", ["audio-only", "no pictures"]),
        "image": ("speech", ["sound", "audio"]),
    }
    ids = {name: ingest(vault, media[name]).item_id for name in cases}
    good = ingest(vault, media["video"]).item_id
    before = _counts(vault)
    for name, (step, _) in cases.items():
        queue.enqueue(vault, step, ids[name])
    good_job = queue.enqueue(vault, "probe", good)
    run_worker(vault)
    for name, (step, words) in cases.items():
        job = _jobs(vault, ids[name])[step]
        assert job.status == "failed", (name, job.status, job.result)
        assert job.attempts == 1, name  # bad input is not retried
        message = (job.error or "").lower()
        assert any(w in message for w in words), (name, job.error)
        assert "Traceback" not in (job.error or "") and "/tmp" not in message, job.error
    assert queue.get_job(vault, good_job.id).status == "succeeded"
    items, notes = _counts(vault)
    assert items == before[0]  # no derived item from any failed step
    assert notes == before[1] + 1  # only the good probe
    assert verify_vault(vault).ok and verify_annotations(vault).ok


@pytest.mark.slow
def test_clip_is_matched_to_its_original_with_time_ranges(
    vault: Vault, media: dict[str, Path], no_auto: None
) -> None:
    original = ingest(vault, media["original"]).item_id
    unrelated = ingest(vault, media["unrelated"]).item_id
    clip = ingest(vault, media["clip"]).item_id
    for item in (original, unrelated, clip):
        queue.enqueue(vault, "fingerprint", item)
    run_worker(vault)
    mine = annotations_for(vault, clip, kinds=["match"])
    assert [m.data["other_item"] for m in mine] == [original]
    match = mine[0].data
    assert match["relationship"] == "clip_of"
    assert match["start"] == pytest.approx(0.0, abs=1.5)
    assert match["end"] == pytest.approx(10.0, abs=1.5)
    assert match["other_start"] == pytest.approx(6.0, abs=1.5)
    assert match["other_end"] == pytest.approx(16.0, abs=1.5)
    theirs = annotations_for(vault, original, kinds=["match"])
    assert [m.data["other_item"] for m in theirs] == [clip]
    assert theirs[0].data["relationship"] == "contains"
    assert theirs[0].start_seconds == pytest.approx(6.0, abs=1.5)
    assert annotations_for(vault, unrelated, kinds=["match"]) == []
    # The index is a cache: deleted, it is rebuilt from the fingerprints stored in the vault.
    index_path(vault).unlink()
    assert rebuild_index(vault) == 3
    assert verify_vault(vault).ok and verify_annotations(vault).ok


@pytest.mark.slow
def test_image_and_audio_analysis(vault: Vault, media: dict[str, Path], no_auto: None) -> None:
    image = ingest(vault, media["image"]).item_id
    audio = ingest(vault, media["audio"]).item_id
    queue.enqueue_steps(vault, image, ["probe", "keyframes"])
    queue.enqueue_steps(vault, audio, ["probe", "speech"])
    run_worker(vault)
    for item in (image, audio):
        for job in _jobs(vault, item).values():
            assert job.status == "succeeded", (job.step, job.error)
    thumb = annotations_for(vault, image, kinds=["thumbnail"])[0]
    assert thumb.data["width"] <= 320 and vault.blobs.exists(thumb.data["sha256"])
    assert annotations_for(vault, audio, kinds=["probe"])[0].data["kind"] == "audio"


@pytest.mark.slow
def test_speech_segments_and_transcript_with_times(
    vault: Vault, tmp_path: Path, no_auto: None
) -> None:
    if not synth.espeak_available():
        pytest.skip("espeak-ng is not installed")
    audio, spans = synth.speech_track(["Open the door.", "Show me the warrant please."])
    video = synth.write_video(
        tmp_path / "talk.mp4", synth.synth_frames(len(audio) / 16_000, seed=5), audio=audio
    )
    item = ingest(vault, video).item_id
    queue.enqueue_steps(vault, item, ["speech", "transcript"])
    run_worker(vault)
    for job in _jobs(vault, item).values():
        assert job.status == "succeeded", (job.step, job.error)
    segments = annotations_for(vault, item, kinds=["speech_segment"])
    assert len(segments) == len(spans)
    for segment, (start, end, _) in zip(segments, spans, strict=True):
        assert segment.start_seconds == pytest.approx(start, abs=0.5)
        assert segment.end_seconds == pytest.approx(end, abs=0.5)
    lines = current_transcript(vault, item)
    words = " ".join(line.text for line in lines).lower()
    # Moonshine tiny hears synthetic speech imperfectly; these words it gets.
    assert "door" in words and "please" in words, words
    assert all(line.start is not None and line.start >= 0.5 for line in lines)
    header = annotations_for(vault, item, kinds=["transcript"])[0]
    assert header.data["engine"] in {"moonshine", "whisper"}
    assert vault.blobs.exists(header.data["sha256"])  # the machine transcript file is kept
    assert verify_annotations(vault).ok
