from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from testigo.media import analyze_video, extract_keyframes

from . import synth


def test_start_grid_and_scenes(tmp_path: Path) -> None:
    # New scene every 3 s over 12 s; grid every 5 s.
    path = synth.write_video(tmp_path / "v.mp4", synth.synth_frames(12, seed=21), fps=10)
    frames = list(extract_keyframes(path, grid_seconds=5))
    times = [k.time for k in frames]
    assert times == sorted(times)
    assert frames[0].reason == "start" and frames[0].time == 0.0
    scenes = [k.time for k in frames if k.reason == "scene"]
    for cut in (3.0, 6.0, 9.0):
        assert any(abs(t - cut) <= 0.5 for t in scenes), (cut, scenes)
    # Every 5 s window holds a keyframe, whatever its reason.
    for start in (0.0, 5.0, 10.0):
        assert any(start <= t < start + 5.0 for t in times)
    for keyframe in frames:
        image = Image.open(io.BytesIO(keyframe.jpeg))
        assert image.format == "JPEG"
        assert image.size == (keyframe.width, keyframe.height) == (160, 90)
        assert keyframe.to_dict()["jpeg_bytes"] == len(keyframe.jpeg)


def test_max_frames_and_downscale(tmp_path: Path) -> None:
    path = synth.write_video(
        tmp_path / "v.mp4", synth.synth_frames(8, width=320, height=180, scene_seconds=1.0)
    )
    frames = list(extract_keyframes(path, grid_seconds=1, max_frames=4, max_side=100))
    assert len(frames) == 4
    assert all(k.width == 100 and k.height == 56 for k in frames)


def test_rotation_is_applied(tmp_path: Path) -> None:
    path = synth.write_video(tmp_path / "r.mp4", synth.synth_frames(1), rotation=90)
    first = next(extract_keyframes(path))
    assert (first.width, first.height) == (90, 160)


def test_one_pass_analysis_agrees(tmp_path: Path) -> None:
    path = synth.write_video(tmp_path / "v.mp4", synth.synth_frames(7, seed=4))
    analysis = analyze_video(path, grid_seconds=5)
    assert [k.time for k in analysis.keyframes] == [
        k.time for k in extract_keyframes(path, grid_seconds=5)
    ]
    assert len(analysis.fingerprint) == 7
    assert analysis.duration == 7.0
