"""Faces across a video: detect on some frames, track, interpolate, smooth, pad.

Running a face detector on every frame is slow, and it still misses faces for a frame or two
(a turned head, motion blur, a hand in front), so per-frame redaction flickers and leaks. Here the
detector runs every few frames, and sooner when the picture changes a lot (motion, a scene cut).
Detections are joined into tracks (box overlap and centre distance against a constant-velocity
prediction); every frame between two detections of a track gets an interpolated box; a track
stays alive for a few detection rounds after a miss and is extended a little before its first and
after its last detection; boxes are smoothed over time and padded. The result lists each track
with a box for every frame it covers, so a person can choose which tracks to redact.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from testigo.media._container import check_complete, open_media, stream_duration, video_stream
from testigo.protect.detector import Detection, FaceDetector, get_detector
from testigo.protect.tracking import Box, FaceTrack, FaceTracker, FaceTracks, TrackingParams, iou

__all__ = [
    "Box",
    "FaceTrack",
    "FaceTracker",
    "FaceTracks",
    "TrackingParams",
    "detect_upright",
    "detection_frame",
    "iou",
    "iterate_frames",
    "track_faces",
]

Progress = Callable[[float, str | None], None]


@dataclass(frozen=True)
class DecodedFrame:
    index: int
    time: float
    frame: av.VideoFrame


def iterate_frames(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Iterator[DecodedFrame]]:
    """Open a video and walk all its frames in presentation order (bad input fails at once)."""
    manager = open_media(path)
    container = manager.__enter__()
    try:
        name = Path(path).name
        stream = video_stream(container, name)
        info: dict[str, Any] = {
            "name": name,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "duration": stream_duration(stream, container),
        }
    except BaseException:
        manager.__exit__(None, None, None)
        raise

    def walk() -> Iterator[DecodedFrame]:
        stream.thread_type = "AUTO"
        last: float | None = None
        try:
            for index, frame in enumerate(container.decode(stream)):
                last = float(frame.time) if frame.time is not None else (last or 0.0)
                yield DecodedFrame(index, last, frame)
            check_complete(name, last, info["duration"])
        finally:
            manager.__exit__(None, None, None)

    return info, walk()


def track_faces(
    path: str | os.PathLike[str],
    *,
    params: TrackingParams | None = None,
    detector: FaceDetector | None = None,
    progress: Progress | None = None,
    thumbnails: Path | None = None,
) -> FaceTracks:
    """Find and follow every face in a video (one decoding pass, detector on a few frames)."""
    params = params or TrackingParams()
    if params.detect_every < 1:
        raise ValueError("detect_every must be at least 1")
    detector = detector or get_detector(params.threshold)
    info, frames = iterate_frames(path)
    tracker = FaceTracker(params)
    times: list[float] = []
    previous: np.ndarray[Any, Any] | None = None
    last_detection = -(10**9)
    motion_since = 0.0
    for decoded in frames:
        small = (
            decoded.frame.reformat(width=64, height=36, format="gray").to_ndarray().astype(np.int16)
        )
        change = float(np.abs(small - previous).mean()) if previous is not None else 0.0
        previous = small
        motion_since += change
        cut = change > params.scene_cut
        if cut:
            tracker.new_scene(decoded.index)
        due = (
            decoded.index - last_detection >= params.detect_every
            or cut
            or motion_since > params.motion_budget
        )
        times.append(decoded.time)
        if due:
            rgb, scale = detection_frame(decoded.frame, params.detect_max_side)
            # Phones store portrait video sideways and tag it; the detector needs faces upright.
            turns = (int(decoded.frame.rotation) % 360) // 90
            found = detect_upright(detector, rgb, turns, params.threshold)
            if scale != 1.0:
                found = [
                    Detection(d.x1 / scale, d.y1 / scale, d.x2 / scale, d.y2 / scale, d.score)
                    for d in found
                ]
            tracker.update(decoded.index, found, rgb, scale)
            last_detection = decoded.index
            motion_since = 0.0
        if progress is not None and info["duration"] and decoded.index % 10 == 0:
            progress(min(0.99, decoded.time / info["duration"]), "finding faces")
    tracks = tracker.finish(times, info["width"], info["height"])
    if thumbnails is not None:
        _write_thumbnails(tracks, thumbnails)
    for track in tracks:
        track.crop = None
    return FaceTracks(
        width=info["width"],
        height=info["height"],
        frame_count=len(times),
        duration=info["duration"],
        tracks=tracks,
        params=params,
        model_sha256=detector.sha256,
        frames_detected=len(tracker.detection_frames),
    )


def detection_frame(frame: av.VideoFrame, max_side: int) -> tuple[np.ndarray[Any, Any], float]:
    """The frame as RGB for the detector, scaled down by FFmpeg when larger than ``max_side``."""
    largest = max(frame.width, frame.height)
    if max_side <= 0 or largest <= max_side:
        return frame.to_ndarray(format="rgb24"), 1.0
    scale = max_side / largest
    width, height = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
    rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    return rgb, width / frame.width


def detect_upright(
    detector: FaceDetector, rgb: np.ndarray[Any, Any], turns: int, threshold: float
) -> list[Detection]:
    """Detect on the picture as displayed (turned ``turns`` quarter turns counter-clockwise),
    and return boxes in the stored frame's pixels."""
    if turns % 4 == 0:
        return detector.detect(rgb, threshold)
    height, width = rgb.shape[:2]
    upright = np.ascontiguousarray(np.rot90(rgb, turns % 4))
    mapped: list[Detection] = []
    for d in detector.detect(upright, threshold):
        if turns % 4 == 1:
            box = (width - d.y2, d.x1, width - d.y1, d.x2)
        elif turns % 4 == 2:
            box = (width - d.x2, height - d.y2, width - d.x1, height - d.y1)
        else:
            box = (d.y1, height - d.x2, d.y2, height - d.x1)
        mapped.append(Detection(*box, d.score))
    return mapped


def _write_thumbnails(tracks: list[FaceTrack], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for track in tracks:
        crop = track.crop
        if crop is None:
            continue
        image = Image.fromarray(crop)
        image.thumbnail((128, 128))
        target = folder / f"track-{track.track_id}.jpg"
        image.save(target, format="JPEG", quality=85)
        track.thumbnail = str(target)
