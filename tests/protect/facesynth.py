"""Test clips with faces that move, whose true boxes are known from the synthesis.

The face is the astronaut portrait that ships inside scikit-image (``skimage.data.astronaut``),
cropped around the head and pasted onto a drawn background, moving along known paths; a bar
passes in front of one face for a few frames (partial occlusion).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

Array = np.ndarray[Any, Any]
Box = tuple[int, int, int, int]  # x1, y1, x2, y2

# The head in astronaut(): crop window, and the face inside it (found once with the detector
# and checked by eye: brow to chin, ear to ear).
_CROP = (160, 30, 290, 210)  # x1, y1, x2, y2 in the 512x512 portrait
_FACE_IN_CROP = (21, 28, 110, 148)


def _portrait() -> Array:
    from skimage import data

    image: Array = data.astronaut()  # type: ignore[no-untyped-call,unused-ignore]
    x1, y1, x2, y2 = _CROP
    return image[y1:y2, x1:x2]


@dataclass
class FaceClip:
    path: Path
    width: int
    height: int
    fps: int
    frames: int
    truth: list[list[Box]] = field(default_factory=list)
    """Per frame, the true face boxes (one entry per face that is in view), by face order."""
    occluded: list[set[int]] = field(default_factory=list)
    """Per frame, the faces partly hidden by the passing bar."""
    originals: list[Array] = field(default_factory=list)

    def times(self) -> list[float]:
        return [i / self.fps for i in range(self.frames)]


def _background(width: int, height: int, seed: int) -> Array:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [60 + 80 * x / width, 90 + 60 * y / height, 120 + 40 * np.sin(x / 23.0)], axis=-1
    )
    blocks = rng.integers(-25, 25, size=(height // 16 + 1, width // 16 + 1, 3))
    texture = np.kron(blocks, np.ones((16, 16, 1)))[:height, :width]
    result: Array = np.clip(base + texture, 0, 255).astype(np.uint8)
    return result


def _paths(
    width: int, height: int, face_h: int, frames: int, faces: int
) -> list[list[tuple[int, int]]]:
    """Top-left corners of each pasted head per frame: across, with a gentle bob."""
    paths: list[list[tuple[int, int]]] = []
    for face in range(faces):
        path = []
        for i in range(frames):
            s = i / max(1, frames - 1)
            if face == 0:
                x = int(10 + s * (width * 0.55))
                y = int(height * 0.12 + 12 * math.sin(2 * math.pi * s * 1.5))
            else:
                x = int(width * 0.62 - s * (width * 0.45))
                y = int(height * 0.48 + 8 * math.cos(2 * math.pi * s))
            path.append((x, max(0, min(height - face_h, y))))
        paths.append(path)
    return paths


def make_face_clip(
    path: Path,
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 20,
    seconds: float = 2.5,
    faces: int = 2,
    head_height: int = 100,
    occlude: tuple[int, int] | None = (18, 24),
    crf: int = 16,
    keep_frames: bool = True,
    audio_tone: bool = False,
) -> FaceClip:
    """Write an H.264 MP4 with ``faces`` moving heads; return the true boxes for every frame."""
    portrait = _portrait()
    scale = head_height / portrait.shape[0]
    head = np.asarray(
        Image.fromarray(portrait).resize(
            (round(portrait.shape[1] * scale), head_height), Image.Resampling.LANCZOS
        )
    )
    mirrored = head[:, ::-1]
    fx1, fy1, fx2, fy2 = (round(v * scale) for v in _FACE_IN_CROP)
    mirror_face = (head.shape[1] - fx2, fy1, head.shape[1] - fx1, fy2)
    total = round(seconds * fps)
    background = _background(width, height, seed=5)
    paths = _paths(width, height, head.shape[0], total, faces)
    clip = FaceClip(path=path, width=width, height=height, fps=fps, frames=total)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": str(crf)}
        audio_stream = None
        if audio_tone:
            audio_stream = container.add_stream("aac", rate=16000)
            audio_stream.layout = "mono"
        for i in range(total):
            frame = background.copy()
            boxes: list[Box] = []
            hidden: set[int] = set()
            for face in range(faces):
                picture, inner = (
                    (head, (fx1, fy1, fx2, fy2)) if face == 0 else (mirrored, mirror_face)
                )
                x, y = paths[face][i]
                h, w = picture.shape[:2]
                x2, y2 = min(width, x + w), min(height, y + h)
                frame[y:y2, x:x2] = picture[: y2 - y, : x2 - x]
                boxes.append(
                    (
                        x + inner[0],
                        y + inner[1],
                        min(width, x + inner[2]),
                        min(height, y + inner[3]),
                    )
                )
            if occlude and faces and occlude[0] <= i < occlude[1]:
                # A hand-sized grey bar over the lower half of the first face.
                bx1, by1, bx2, by2 = boxes[0]
                frame[(by1 + by2) // 2 : by2, bx1 - 5 : bx2 + 5] = (128, 120, 110)
                hidden.add(0)
            clip.truth.append(boxes)
            clip.occluded.append(hidden)
            if keep_frames:
                clip.originals.append(frame)
            video = av.VideoFrame.from_ndarray(frame, format="rgb24")
            container.mux(stream.encode(video))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            rate = 16000
            n = round(seconds * rate)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)
            pts = 0
            for start in range(0, n, 4096):
                piece = tone[start : start + 4096].reshape(1, -1)
                audio = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
                audio.sample_rate = rate
                audio.pts = pts
                audio.time_base = Fraction(1, rate)
                pts += piece.shape[1]
                container.mux(audio_stream.encode(audio))
            container.mux(audio_stream.encode(None))
    return clip


def decode_frames(path: Path) -> Iterator[Array]:
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24")


def _gradient_energy(region: Array) -> float:
    grey = region.astype(np.float64).mean(axis=2)
    if grey.shape[0] < 2 or grey.shape[1] < 2:
        return 0.0
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def is_hidden(original: Array, redacted: Array, box: Box, ratio: float = 0.45) -> bool:
    """True when every quarter of ``box`` lost most of its detail (blurred, pixelated or masked).

    Faces carry fine detail (eyes, mouth, hair); a hidden face keeps little of it. Each quarter
    is checked so that a box covering only part of the face does not pass.
    """
    x1, y1, x2, y2 = box
    mx, my = (x1 + x2) // 2, (y1 + y2) // 2
    for qx1, qy1, qx2, qy2 in (
        (x1, y1, mx, my),
        (mx, y1, x2, my),
        (x1, my, mx, y2),
        (mx, my, x2, y2),
    ):
        before = _gradient_energy(original[qy1:qy2, qx1:qx2])
        after = _gradient_energy(redacted[qy1:qy2, qx1:qx2])
        if before > 1.0 and after > ratio * before:
            return False
    return True


def is_intact(original: Array, redacted: Array, box: Box) -> bool:
    """True when ``box`` kept its detail and looks like the original (only coding noise)."""
    x1, y1, x2, y2 = box
    a = original[y1:y2, x1:x2].astype(np.float64)
    b = redacted[y1:y2, x1:x2].astype(np.float64)
    return float(np.abs(a - b).mean()) < 8.0 and _gradient_energy(b) > 0.7 * _gradient_energy(a)
