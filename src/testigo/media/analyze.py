"""Keyframes and fingerprint from one decoding pass, for the ingest pipeline.

Decoding is most of the cost of both steps; done once it halves the time spent on a long video.
The result is returned whole, or an error is raised and nothing is returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from testigo.media._frames import scan_frames
from testigo.media.fingerprint import FingerprintBuilder, VideoFingerprint
from testigo.media.keyframes import Keyframe, KeyframePicker


@dataclass(frozen=True)
class VideoAnalysis:
    """Keyframes (in time order) and the fingerprint of a video spanning 0 to ``duration``."""

    keyframes: list[Keyframe]
    fingerprint: VideoFingerprint

    @property
    def duration(self) -> float:
        return self.fingerprint.duration


def analyze_video(
    path: str | os.PathLike[str],
    *,
    grid_seconds: float = 10.0,
    max_frames: int = 500,
    scene_fps: float = 2.0,
    max_side: int = 640,
    fingerprint_fps: float = 1.0,
) -> VideoAnalysis:
    """What :func:`extract_keyframes` and :func:`fingerprint_video` give, in one pass."""
    builder = FingerprintBuilder(fingerprint_fps)
    info, samples = scan_frames(path, sample_fps=max(scene_fps, fingerprint_fps))
    picker = KeyframePicker(
        info,
        grid_seconds=grid_seconds,
        max_frames=max_frames,
        scene_fps=scene_fps,
        max_side=max_side,
    )
    keyframes: list[Keyframe] = []
    for sample in samples:
        keyframe = picker.feed(sample)
        if keyframe is not None:
            keyframes.append(keyframe)
        builder.feed(sample)
    return VideoAnalysis(keyframes, builder.build(info.duration))
