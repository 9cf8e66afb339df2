from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from testigo.media import MatchIndex, MediaError, VideoFingerprint, fingerprint_video
from testigo.media.fingerprint import content_box

from . import synth

CLIP_START = 23.4  # seconds into the original where the clips begin
CLIP_LENGTH = 20.0


def _clip(frames: list[tuple[float, np.ndarray]], start: float, length: float) -> list[np.ndarray]:
    return [f for t, f in frames if start <= t < start + length]


@pytest.fixture(scope="module")
def index(original_video: Path, media_dir: Path) -> MatchIndex:
    other = synth.write_video(
        media_dir / "unrelated.mp4", synth.synth_frames(30, width=320, height=180, seed=99)
    )
    result = MatchIndex()
    result.add("original", fingerprint_video(original_video))
    result.add("unrelated", fingerprint_video(other))
    return result


def test_reencoded_letterboxed_clip_is_found_with_its_offset(
    index: MatchIndex, original_frames: list[tuple[float, np.ndarray]], tmp_path: Path
) -> None:
    # Smaller, boxed into a square with black bars, heavily re-encoded.
    frames = [synth.letterbox(f, 200, 200) for f in _clip(original_frames, CLIP_START, 20)]
    clip = synth.write_video(tmp_path / "clip.mp4", frames, fps=10, crf=32)
    matches = index.query(fingerprint_video(clip))
    assert [m.video_id for m in matches] == ["original"]
    match = matches[0]
    assert match.relationship == "clip_of"
    assert not match.mirrored
    assert match.offset == pytest.approx(CLIP_START, abs=1.0)
    assert match.query_start == pytest.approx(0.0, abs=1.0)
    assert match.query_end == pytest.approx(CLIP_LENGTH, abs=1.0)
    assert match.match_start == pytest.approx(CLIP_START, abs=1.0)
    assert match.match_end == pytest.approx(CLIP_START + CLIP_LENGTH, abs=1.0)
    assert match.to_dict()["relationship"] == "clip_of"


def test_pillarboxed_mirrored_clip(
    index: MatchIndex, original_frames: list[tuple[float, np.ndarray]], tmp_path: Path
) -> None:
    frames = [
        synth.letterbox(np.ascontiguousarray(f[:, ::-1]), 320, 120)
        for f in _clip(original_frames, 10.0, 15.0)
    ]
    clip = synth.write_video(tmp_path / "mirror.mp4", frames, fps=10)
    matches = index.query(fingerprint_video(clip))
    assert len(matches) == 1
    assert matches[0].mirrored
    assert matches[0].offset == pytest.approx(10.0, abs=1.0)


def test_same_recording_and_contains(
    index: MatchIndex,
    original_video: Path,
    original_frames: list[tuple[float, np.ndarray]],
    tmp_path: Path,
) -> None:
    same = index.query(fingerprint_video(original_video))
    assert same[0].video_id == "original" and same[0].relationship == "same"
    assert same[0].offset == 0.0

    # A longer video that includes 20 s of the original in its middle.
    long = [
        *synth.synth_frames(10, width=320, height=180, seed=500),
        *_clip(original_frames, 30.0, 20.0),
        *synth.synth_frames(10, width=320, height=180, seed=501),
    ]
    compilation = synth.write_video(tmp_path / "compilation.mp4", long, fps=10)
    piece = synth.write_video(tmp_path / "piece.mp4", _clip(original_frames, 30.0, 20.0), fps=10)
    local = MatchIndex()
    local.add("piece", fingerprint_video(piece))
    (match,) = local.query(fingerprint_video(compilation))
    assert match.relationship == "contains"
    assert match.query_start == pytest.approx(10.0, abs=1.0)
    assert match.query_end == pytest.approx(30.0, abs=1.0)
    assert match.offset == pytest.approx(-10.0, abs=1.0)

    # Two clips that share 5 seconds overlap.
    first = synth.write_video(tmp_path / "a.mp4", _clip(original_frames, 0.0, 20.0), fps=10)
    second = synth.write_video(tmp_path / "b.mp4", _clip(original_frames, 12.0, 20.0), fps=10)
    pair = MatchIndex()
    pair.add("a", fingerprint_video(first))
    (overlap,) = pair.query(fingerprint_video(second))
    assert overlap.relationship == "overlaps"
    assert overlap.offset == pytest.approx(12.0, abs=1.0)
    assert overlap.query_end == pytest.approx(8.0, abs=1.5)


def test_unrelated_video_does_not_match(index: MatchIndex, tmp_path: Path) -> None:
    other = synth.write_video(
        tmp_path / "new.mp4", synth.synth_frames(20, width=320, height=180, seed=12345)
    )
    assert index.query(fingerprint_video(other)) == []


def test_save_load_remove(index: MatchIndex, original_video: Path, tmp_path: Path) -> None:
    target = tmp_path / "index.npz"
    index.save(target)
    loaded = MatchIndex.load(target)
    assert len(loaded) == 2 and "original" in loaded
    fingerprint = fingerprint_video(original_video)
    assert [m.video_id for m in loaded.query(fingerprint)] == ["original"]
    assert loaded.query(fingerprint, exclude="original") == []
    loaded.remove("original")
    assert loaded.query(fingerprint) == []
    with pytest.raises(MediaError):
        loaded.remove("original")
    (tmp_path / "bad.npz").write_bytes(b"not an index")
    with pytest.raises(MediaError):
        MatchIndex.load(tmp_path / "bad.npz")
    with pytest.raises(MediaError):
        MatchIndex.load(tmp_path / "missing.npz")


def test_fingerprint_serialisation(original_video: Path) -> None:
    fingerprint = fingerprint_video(original_video)
    data = fingerprint.to_bytes()
    assert len(data) == 21 + 69 * len(fingerprint)
    again = VideoFingerprint.from_bytes(data)
    assert np.array_equal(again.hashes, fingerprint.hashes)
    assert np.array_equal(again.mirrored, fingerprint.mirrored)
    assert np.array_equal(again.times, fingerprint.times)
    assert again.duration == fingerprint.duration and again.fps == fingerprint.fps
    for broken in (b"", b"XXXX" + data[4:], data[:-1], data + b"\0"):
        with pytest.raises(MediaError):
            VideoFingerprint.from_bytes(broken)
    assert len(fingerprint.hex_hashes()[0]) == 64
    summary = fingerprint.to_dict()
    assert summary["end"] == fingerprint.duration and len(summary["frames"]) == len(fingerprint)
    assert summary["frames"][0]["pdq"] == fingerprint.hex_hashes()[0]


def test_fingerprint_rate(original_video: Path) -> None:
    assert len(fingerprint_video(original_video, fps=2.0)) == 120
    with pytest.raises(MediaError):
        fingerprint_video(original_video, fps=0)


def test_content_box() -> None:
    picture = np.random.default_rng(1).integers(60, 255, size=(90, 160)).astype(np.float64)
    boxed = np.zeros((160, 160))
    boxed[35:125] = picture
    assert content_box(boxed) == (35, 125, 0, 160)
    pillar = np.zeros((90, 300))
    pillar[:, 70:230] = picture
    assert content_box(pillar) == (0, 90, 70, 230)
    # A black frame is not all bar.
    assert content_box(np.zeros((90, 160))) == (0, 90, 0, 160)


def _random_fingerprint(rng: np.random.Generator, frames: int) -> VideoFingerprint:
    return VideoFingerprint(
        times=np.arange(frames, dtype=np.float32),
        hashes=rng.integers(0, 256, size=(frames, 32), dtype=np.uint8),
        mirrored=rng.integers(0, 256, size=(frames, 32), dtype=np.uint8),
        quality=np.full(frames, 100, dtype=np.uint8),
        duration=float(frames),
        fps=1.0,
    )


def test_videos_added_to_a_searched_index_are_found_as_in_a_fresh_one(
    original_video: Path, tmp_path: Path
) -> None:
    """Adding to an index that was already searched appends to its packed arrays (growing
    them); replacing or removing a video repacks. Either way queries see exactly the videos."""
    rng = np.random.default_rng(5)
    grown = MatchIndex()
    for number in range(3):
        grown.add(f"noise-{number}", _random_fingerprint(rng, 400))
    real = fingerprint_video(original_video)
    assert grown.query(real) == []  # packs the three
    for number in range(3, 12):  # past the first capacity
        grown.add(f"noise-{number}", _random_fingerprint(rng, 400))
        grown.query(_random_fingerprint(rng, 5))
    grown.add("original", real)
    fresh = MatchIndex()
    for video_id in grown.video_ids:
        fresh._entries[video_id] = grown._entries[video_id]
    assert [m.video_id for m in grown.query(real)] == ["original"]
    assert grown.query(real) == fresh.query(real)
    assert grown.frames == fresh.frames == 12 * 400 + len(real)
    # Re-indexing a video under the same id replaces its old hashes everywhere.
    grown.add("original", _random_fingerprint(rng, 60))
    assert grown.query(real) == []
    grown.add("original", real)
    grown.remove("noise-0")
    assert [m.video_id for m in grown.query(real)] == ["original"]
    grown.metadata = {"seq": 41, "note": "kept with the index"}
    grown.save(tmp_path / "grown.npz")
    loaded = MatchIndex.load(tmp_path / "grown.npz")
    assert loaded.metadata == {"seq": 41, "note": "kept with the index"}
    assert loaded.query(real) == grown.query(real)
