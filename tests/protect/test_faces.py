"""Face tracking on a clip with known faces: found, followed through every frame, JSON-able."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from testigo.media.errors import MediaError
from testigo.protect.detector import Detection, FaceDetector, decode, model_path, nms
from testigo.protect.faces import FaceTracker, TrackingParams, iou, track_faces

from .facesynth import FaceClip, decode_frames


def _which_face(clip: FaceClip, box: list[int], frame: int) -> int:
    x, y, w, h = box
    return max(
        range(len(clip.truth[frame])),
        key=lambda f: iou((x, y, x + w, y + h), tuple(map(float, clip.truth[frame][f]))),  # type: ignore[arg-type]
    )


def test_tracks_cover_every_frame_with_few_detector_runs(
    face_clip: FaceClip, tmp_path: Path
) -> None:
    tracks = track_faces(face_clip.path, thumbnails=tmp_path / "thumbs")
    assert tracks.frame_count == face_clip.frames
    assert tracks.frames_detected < face_clip.frames / 2
    assert len(tracks.tracks) == 2
    faces_seen = set()
    for track in tracks.tracks:
        indices = [f["frame"] for f in track.frames]
        assert indices == list(range(face_clip.frames)), "a track skips frames"
        faces = {_which_face(face_clip, f["box"], f["frame"]) for f in track.frames}
        assert len(faces) == 1, "a track jumped from one face to the other"
        faces_seen |= faces
        assert track.thumbnail and Path(track.thumbnail).is_file()
        sources = {f["source"] for f in track.frames}
        assert {"detected", "interpolated"} <= sources
    assert faces_seen == {0, 1}
    data = json.loads(json.dumps(tracks.to_dict()))
    assert data["model_sha256"] == FaceDetector().sha256
    assert data["params"]["detect_every"] == 10


def test_padded_boxes_contain_the_true_face(face_clip: FaceClip) -> None:
    tracks = track_faces(face_clip.path)
    boxes = tracks.boxes_by_frame()
    for index, truth in enumerate(face_clip.truth):
        for x1, y1, x2, y2 in truth:
            inside = [
                b for b in boxes[index] if b[0] <= x1 + 2 and b[1] <= y1 + 2 and b[2] >= x2 - 2
            ]
            assert inside, f"frame {index}: face {x1, y1, x2, y2} not inside {boxes[index]}"


def test_boxes_do_not_flicker(face_clip: FaceClip) -> None:
    """Consecutive boxes of a track move and change size smoothly."""
    for track in track_faces(face_clip.path).tracks:
        for a, b in zip(track.frames, track.frames[1:], strict=False):
            (ax, ay, aw, ah), (bx, by, bw, bh) = a["box"], b["box"]
            assert abs(ax - bx) <= 12 and abs(ay - by) <= 12
            assert abs(aw - bw) <= 0.15 * aw + 2 and abs(ah - bh) <= 0.15 * ah + 2


def test_tracker_keeps_a_missed_face_and_interpolates() -> None:
    params = TrackingParams(detect_every=5, max_misses=2, smoothing=1, padding=0.0)
    tracker = FaceTracker(params)
    rgb = np.zeros((100, 200, 3), dtype=np.uint8)
    tracker.update(0, [Detection(10, 10, 30, 30, 0.9)], rgb)
    tracker.update(5, [], rgb)  # missed once: still alive
    tracker.update(10, [Detection(30, 10, 50, 30, 0.8)], rgb)
    tracks = tracker.finish([i / 10 for i in range(20)], 200, 100)
    assert len(tracks) == 1
    by_frame = {f["frame"]: f for f in tracks[0].frames}
    assert by_frame[5]["box"][0] == 20 and by_frame[5]["source"] == "interpolated"
    # After the last detection the box keeps moving at the same speed, growing a little.
    assert by_frame[12]["source"] == "extrapolated" and by_frame[12]["box"][0] >= 32


def test_scene_cut_starts_new_tracks() -> None:
    tracker = FaceTracker(TrackingParams())
    rgb = np.zeros((100, 200, 3), dtype=np.uint8)
    tracker.update(0, [Detection(10, 10, 30, 30, 0.9)], rgb)
    tracker.new_scene(3)
    tracker.update(3, [Detection(12, 10, 32, 30, 0.9)], rgb)
    tracks = tracker.finish([i / 10 for i in range(8)], 200, 100)
    assert len(tracks) == 2
    assert max(f["frame"] for f in tracks[0].frames) == 2
    assert min(f["frame"] for f in tracks[1].frames) == 3


def test_decode_and_nms() -> None:
    heat = np.zeros((1, 1, 8, 8), dtype=np.float32)
    heat[0, 0, 2, 2] = 0.9
    heat[0, 0, 2, 3] = 0.8  # the same face, one cell over: suppressed
    scale = np.full((1, 2, 8, 8), np.log(5.0), dtype=np.float32)
    offset = np.zeros((1, 2, 8, 8), dtype=np.float32)
    found = decode(heat, scale, offset, 0.5)
    assert len(found) == 1
    assert found[0].score == pytest.approx(0.9)
    assert found[0].width == pytest.approx(20.0)
    boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], dtype=np.float64)
    assert sorted(nms(boxes, np.array([0.5, 0.6]), 0.3)) == [0, 1]


def test_model_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTIGO_FACE_MODEL", str(tmp_path / "missing.onnx"))
    with pytest.raises(MediaError, match="TESTIGO_FACE_MODEL"):
        model_path()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    monkeypatch.setenv("TESTIGO_FACE_MODEL", str(bad))
    with pytest.raises(MediaError, match="ONNX"):
        FaceDetector()
    monkeypatch.delenv("TESTIGO_FACE_MODEL")
    assert model_path().name == "centerface.onnx"


def test_audio_only_file_has_no_faces(tmp_path: Path) -> None:
    from media import synth

    audio = synth.write_audio(tmp_path / "a.m4a", np.zeros(16_000, dtype=np.float32))
    with pytest.raises(MediaError, match="no video stream"):
        track_faces(audio)


def test_tracking_recalls_at_least_as_much_as_every_frame(face_clip: FaceClip) -> None:
    """The per-frame detector (the usual approach) against tracks, with the same padding."""
    params = TrackingParams()
    detector = FaceDetector()
    tracked = track_faces(face_clip.path, params=params, detector=detector)
    tracked_boxes = tracked.boxes_by_frame()
    per_frame: dict[int, list[tuple[float, float, float, float]]] = {}
    for index, rgb in enumerate(decode_frames(face_clip.path)):
        per_frame[index] = [
            (
                d.x1 - d.width * params.padding,
                d.y1 - d.height * params.padding,
                d.x2 + d.width * params.padding,
                d.y2 + d.height * params.padding,
            )
            for d in detector.detect(rgb, params.threshold)
        ]

    def recall(boxes: dict[int, list[tuple[float, float, float, float]]]) -> float:
        hits = total = 0
        for index, truth in enumerate(face_clip.truth):
            for x1, y1, x2, y2 in truth:
                total += 1
                hits += any(
                    b[0] <= x1 + 1 and b[1] <= y1 + 1 and b[2] >= x2 - 1 and b[3] >= y2 - 1
                    for b in boxes.get(index, [])
                )
        return hits / total

    assert tracked.frames_detected <= face_clip.frames / 2
    assert recall(tracked_boxes) >= recall(per_frame)
    assert recall(tracked_boxes) == 1.0


@pytest.mark.parametrize("rotation", [90, 270])
def test_faces_found_in_sideways_phone_video(
    face_clip: FaceClip, tmp_path: Path, rotation: int
) -> None:
    """Portrait video stored sideways with a display rotation: boxes come back in stored pixels."""
    from media import synth

    turns = rotation // 90
    frames = [np.ascontiguousarray(np.rot90(f, -turns)) for f in face_clip.originals[:12]]
    path = synth.write_video(tmp_path / "sideways.mp4", frames, fps=20, rotation=rotation)
    tracks = track_faces(path)
    assert len(tracks.tracks) == 2
    height, width = frames[0].shape[:2]
    for x1, y1, x2, y2 in face_clip.truth[0]:
        corners = np.array([[x1, y1], [x2, y2]], dtype=float)
        # Where the upright box lies in the stored (sideways) frame.
        if turns == 1:
            stored = (width - corners[:, 1], corners[:, 0])
        else:
            stored = (corners[:, 1], height - corners[:, 0])
        sx1, sx2 = sorted(stored[0])
        sy1, sy2 = sorted(stored[1])
        assert any(iou((sx1, sy1, sx2, sy2), b) > 0.3 for b in tracks.boxes_by_frame()[0]), (
            f"face {x1, y1, x2, y2} not found in the sideways frame"
        )


def test_large_frames_are_scaled_down_for_the_detector(face_clip: FaceClip) -> None:
    """With a smaller detection size the boxes still come back in full-size pixels."""
    full = track_faces(face_clip.path)
    small = track_faces(face_clip.path, params=TrackingParams(detect_max_side=240))
    assert len(small.tracks) == 2
    assert small.params.detect_max_side == 240
    for a in full.boxes_by_frame()[0]:
        assert max(iou(a, b) for b in small.boxes_by_frame()[0]) > 0.6
