"""Perceptual fingerprints of videos: PDQ hashes of frames sampled at a steady rate.

The same recording comes back re-encoded by a platform, resized, cut, boxed in black bars or
mirrored. PDQ (Facebook's 256-bit perceptual image hash) survives re-encoding and resizing; bars
are cut off before hashing so a letterboxed copy hashes like the original, and each frame is also
hashed mirrored so a flipped copy can be found. :mod:`testigo.media.matching` compares them.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pdqhash  # type: ignore[import-untyped]

from testigo.media._frames import SampledFrame, scan_frames
from testigo.media.errors import MediaError

# PDQ's own advice: hashes of quality under 50 come from flat, featureless pictures and match
# each other whatever they show; they are kept but not used for matching.
MIN_QUALITY = 50
_HASH_SIDE = 320  # frames are scaled so the longer side is this before bars are found
_BAR_DARKNESS = 40  # brightest channel (0-255) at or below which a pixel counts as bar
_BAR_BRIGHT_SHARE = 0.02  # a bar line may have this share of brighter pixels
_MAGIC = b"TGFP"
_VERSION = 1
_HEADER = struct.Struct("<4sBIdf")  # magic, version, frame count, duration, sampling rate
_MIRROR = 5  # index of the left-right mirror among PDQ's eight dihedral hashes


@dataclass(frozen=True)
class VideoFingerprint:
    """Hashes of frames at ``times`` (seconds); covers the range 0 to ``duration``.

    ``hashes`` and ``mirrored`` are (n, 32) uint8 arrays of packed 256-bit PDQ hashes, of the frame
    and of its left-right mirror; ``quality`` is PDQ's 0-100 quality of each hash.
    """

    times: np.ndarray
    hashes: np.ndarray
    mirrored: np.ndarray
    quality: np.ndarray
    duration: float
    fps: float

    def __post_init__(self) -> None:
        count = len(self.times)
        if self.hashes.shape != (count, 32) or self.mirrored.shape != (count, 32):
            raise MediaError("fingerprint arrays do not agree in size")
        if self.quality.shape != (count,):
            raise MediaError("fingerprint arrays do not agree in size")

    def __len__(self) -> int:
        return len(self.times)

    @property
    def start(self) -> float:
        return 0.0

    @property
    def end(self) -> float:
        return self.duration

    def to_bytes(self) -> bytes:
        """Compact form (69 bytes a frame) for storing next to the video's record."""
        header = _HEADER.pack(_MAGIC, _VERSION, len(self), self.duration, self.fps)
        return b"".join(
            [
                header,
                self.times.astype("<f4").tobytes(),
                self.quality.astype(np.uint8).tobytes(),
                self.hashes.astype(np.uint8).tobytes(),
                self.mirrored.astype(np.uint8).tobytes(),
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> VideoFingerprint:
        if len(data) < _HEADER.size:
            raise MediaError("not a video fingerprint: too short")
        magic, version, count, duration, fps = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise MediaError("not a video fingerprint, or one of an unknown version")
        if len(data) != _HEADER.size + count * 69:
            raise MediaError("the video fingerprint is truncated or has trailing data")
        offset = _HEADER.size
        times = np.frombuffer(data, "<f4", count, offset).astype(np.float32)
        offset += count * 4
        quality = np.frombuffer(data, np.uint8, count, offset).copy()
        offset += count
        hashes = np.frombuffer(data, np.uint8, count * 32, offset).reshape(count, 32).copy()
        offset += count * 32
        mirrored = np.frombuffer(data, np.uint8, count * 32, offset).reshape(count, 32).copy()
        return cls(times, hashes, mirrored, quality, float(duration), float(fps))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (hex hashes); ``to_bytes`` is the compact one for storage."""
        return {
            "start": self.start,
            "end": self.end,
            "fps": self.fps,
            "frames": [
                {
                    "time": round(float(time), 3),
                    "pdq": plain.tobytes().hex(),
                    "pdq_mirrored": mirror.tobytes().hex(),
                    "quality": int(quality),
                }
                for time, plain, mirror, quality in zip(
                    self.times, self.hashes, self.mirrored, self.quality, strict=True
                )
            ],
        }

    def hex_hashes(self) -> list[str]:
        return [row.tobytes().hex() for row in self.hashes]


def content_box(gray: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the picture inside letterbox or pillarbox bars.

    A bar is a run of near-black rows (or columns) from an edge: at most 2% of their pixels
    brighter than a dark grey, which tolerates compression noise and a small logo. Only dark bars
    are cut: a flat bright band is far more often sky or a wall that belongs to the picture. If
    the bars would leave less than a third of the frame (a dark frame), nothing is cut.
    """
    height, width = gray.shape
    bright = gray > _BAR_DARKNESS
    rows = bright.mean(axis=1) > _BAR_BRIGHT_SHARE
    columns = bright.mean(axis=0) > _BAR_BRIGHT_SHARE
    if not rows.any() or not columns.any():
        return 0, height, 0, width
    top = int(np.argmax(rows))
    bottom = height - int(np.argmax(rows[::-1]))
    left = int(np.argmax(columns))
    right = width - int(np.argmax(columns[::-1]))
    if bottom - top < height / 3 or right - left < width / 3:
        return 0, height, 0, width
    return top, bottom, left, right


def hash_rgb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """PDQ hash of the picture with bars removed, of its mirror, and the quality (0-100)."""
    top, bottom, left, right = content_box(rgb.max(axis=2))
    picture = np.ascontiguousarray(rgb[top:bottom, left:right])
    hashes, quality = pdqhash.compute_dihedral(picture)
    plain = np.packbits(np.asarray(hashes[0], dtype=np.uint8))
    mirror = np.packbits(np.asarray(hashes[_MIRROR], dtype=np.uint8))
    return plain, mirror, int(quality)


class FingerprintBuilder:
    """Collects hashes from sampled frames at ``fps``."""

    def __init__(self, fps: float) -> None:
        if not 0 < fps <= 30:
            raise MediaError("the fingerprint rate must be between 0 and 30 frames a second")
        self.fps = fps
        self.interval = 1.0 / fps
        self.next_time = 0.0
        self.times: list[float] = []
        self.hashes: list[np.ndarray] = []
        self.mirrored: list[np.ndarray] = []
        self.quality: list[int] = []

    def feed(self, sample: SampledFrame) -> None:
        if sample.time + 1e-6 < self.next_time:
            return
        self.next_time = (int(sample.time / self.interval + 1e-6) + 1) * self.interval
        frame = sample.frame
        scale = min(1.0, _HASH_SIDE / max(frame.width, frame.height))
        width = max(16, round(frame.width * scale))
        height = max(16, round(frame.height * scale))
        rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
        turns = (int(frame.rotation) % 360) // 90
        if turns:
            rgb = np.rot90(rgb, turns)
        plain, mirror, quality = hash_rgb(rgb)
        self.times.append(sample.time)
        self.hashes.append(plain)
        self.mirrored.append(mirror)
        self.quality.append(quality)

    def build(self, duration: float | None) -> VideoFingerprint:
        if not self.times:
            raise MediaError("no frame could be sampled from the video")
        end = max(duration or 0.0, self.times[-1] + self.interval)
        return VideoFingerprint(
            times=np.asarray(self.times, dtype=np.float32),
            hashes=np.stack(self.hashes).astype(np.uint8),
            mirrored=np.stack(self.mirrored).astype(np.uint8),
            quality=np.asarray(self.quality, dtype=np.uint8),
            duration=float(end),
            fps=self.fps,
        )


def fingerprint_video(path: str | os.PathLike[str], *, fps: float = 1.0) -> VideoFingerprint:
    """Fingerprint the video at ``path`` from ``fps`` frames a second (whole file, or an error)."""
    builder = FingerprintBuilder(fps)
    info, samples = scan_frames(path, sample_fps=fps)
    for sample in samples:
        builder.feed(sample)
    return builder.build(info.duration)
