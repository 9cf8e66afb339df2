"""Keyframes and thumbnails: the first frame, a frame every few seconds, and each scene change.

A reviewer skims a long recording through these, OCR reads text from them, and the incident
record links to them by time. Frames are picked in one streaming pass; only the small picture used
to compare neighbouring samples and the JPEGs being returned are ever held.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from PIL import Image

from testigo.media._frames import SampledFrame, VideoInfo, scan_frames
from testigo.media.errors import MediaError

# A mean absolute difference (0-255) between successive small grey samples above this, and well
# above the recent level of motion, is taken as a cut.
SCENE_THRESHOLD = 15.0
_THUMB_SIZE = (64, 36)


@dataclass(frozen=True)
class Keyframe:
    """One picked frame: ``time`` (seconds from the start of the video) is the instant it shows."""

    time: float
    reason: str  # "start", "grid" or "scene"
    jpeg: bytes
    width: int
    height: int
    scene_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description; the JPEG itself is stored separately as a derived file."""
        return {
            "time": self.time,
            "reason": self.reason,
            "width": self.width,
            "height": self.height,
            "scene_score": self.scene_score,
            "jpeg_bytes": len(self.jpeg),
        }


def frame_to_image(frame: av.VideoFrame, max_side: int) -> Image.Image:
    """The frame upright (display rotation applied), scaled so its longer side is ``max_side``."""
    scale = min(1.0, max_side / max(frame.width, frame.height))
    width = max(2, round(frame.width * scale))
    height = max(2, round(frame.height * scale))
    rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    image = Image.fromarray(rgb)
    rotation = int(frame.rotation) % 360
    if rotation:
        image = image.rotate(rotation, expand=True)
    return image


def jpeg_bytes(image: Image.Image, quality: int = 80) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=False)
    return buffer.getvalue()


class KeyframePicker:
    """Decides, sample by sample, which frames become keyframes."""

    def __init__(
        self,
        info: VideoInfo,
        *,
        grid_seconds: float,
        max_frames: int,
        scene_fps: float,
        max_side: int,
    ) -> None:
        if grid_seconds <= 0:
            raise MediaError("grid_seconds must be positive")
        if max_frames < 1:
            raise MediaError("max_frames must be at least 1")
        self.max_frames = max_frames
        self.max_side = max_side
        self.interval = 1.0 / scene_fps
        # Widen the grid on long videos so that it takes at most half of the budget.
        self.grid = grid_seconds
        self.duration = info.duration
        if info.duration:
            self.grid = max(grid_seconds, info.duration / max(1, max_frames // 2))
        self.next_sample = 0.0
        self.next_grid = 0.0
        self.last_picked = -1e9
        self.previous: np.ndarray | None = None
        self.motion: list[float] = []
        self.count = 0

    def feed(self, sample: SampledFrame) -> Keyframe | None:
        if sample.time + 1e-6 < self.next_sample or self.count >= self.max_frames:
            return None
        self.next_sample = (int(sample.time / self.interval + 1e-6) + 1) * self.interval
        thumb = (
            sample.frame.reformat(width=_THUMB_SIZE[0], height=_THUMB_SIZE[1], format="gray")
            .to_ndarray()
            .astype(np.int16)
        )
        score: float | None = None
        if self.previous is not None:
            score = float(np.abs(thumb - self.previous).mean())
        self.previous = thumb
        reason: str | None = None
        if self.count == 0:
            reason = "start"
        elif score is not None and self._is_cut(score) and sample.time - self.last_picked >= 1.0:
            reason = "scene"
        elif sample.time + 1e-6 >= self.next_grid:
            reason = "grid"
        if score is not None:
            self.motion = [*self.motion[-9:], score]
        if sample.time + 1e-6 >= self.next_grid:
            self.next_grid = (int(sample.time / self.grid + 1e-6) + 1) * self.grid
        if reason is None:
            return None
        # Scene changes may use only the budget the grid leaves.
        if reason == "scene" and self.count >= self.max_frames - self._grid_left(sample.time):
            return None
        self.count += 1
        self.last_picked = sample.time
        image = frame_to_image(sample.frame, self.max_side)
        return Keyframe(
            time=round(sample.time, 3),
            reason=reason,
            jpeg=jpeg_bytes(image),
            width=image.width,
            height=image.height,
            scene_score=round(score, 2) if score is not None else None,
        )

    def _is_cut(self, score: float) -> bool:
        if score < SCENE_THRESHOLD:
            return False
        if not self.motion:
            return True
        typical = float(np.median(self.motion))
        return score > 3.0 * typical

    def _grid_left(self, time: float) -> int:
        """How many grid frames are still to come, so scene changes leave room for them."""
        if not self.duration or self.next_grid >= self.duration:
            return 0
        return int((self.duration - self.next_grid - 1e-6) // self.grid) + 1


def extract_keyframes(
    path: str | os.PathLike[str],
    *,
    grid_seconds: float = 10.0,
    max_frames: int = 500,
    scene_fps: float = 2.0,
    max_side: int = 640,
) -> Iterator[Keyframe]:
    """Keyframes of the video at ``path``, in time order, as JPEG thumbnails.

    The file is opened and checked before this returns, so unusable input fails at once. If the
    stream turns out to be truncated the iterator raises :class:`MediaError` at its end; callers
    keep results only once the iterator is exhausted.
    """
    info, samples = scan_frames(path, sample_fps=scene_fps)
    picker = KeyframePicker(
        info,
        grid_seconds=grid_seconds,
        max_frames=max_frames,
        scene_fps=scene_fps,
        max_side=max_side,
    )
    return _pick(picker, samples)


def _pick(picker: KeyframePicker, samples: Iterator[SampledFrame]) -> Iterator[Keyframe]:
    for sample in samples:
        keyframe = picker.feed(sample)
        if keyframe is not None:
            yield keyframe
