"""Joining face detections into tracks and giving every frame of a track a box.

Detections arrive a few frames apart. Each is matched to the track whose constant-velocity
prediction it overlaps or lies near; a track survives a few detection rounds unseen. When the
video has been read, every track gets a box for every frame it covers: detected, interpolated
between detections, or extrapolated a little before the first and after the last, then smoothed
over time and padded. See :mod:`testigo.protect.faces` for the pass over the video.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from testigo.protect.detector import Detection

Box = tuple[float, float, float, float]  # x1, y1, x2, y2


@dataclass(frozen=True)
class TrackingParams:
    """Everything that decides which frames are analysed and how boxes are drawn (all ledgered)."""

    detect_every: int = 10
    """Run the detector at least every this many frames (a third of a second at 30 fps)."""
    motion_budget: float = 12.0
    """Detect sooner once the summed frame-to-frame change (mean grey level) passes this."""
    scene_cut: float = 40.0
    """A change larger than this between two frames is a cut: tracks end, detection runs."""
    max_misses: int = 2
    """Detection rounds a track survives without being seen."""
    padding: float = 0.25
    """Added on each side of a box, as a share of its width and height."""
    smoothing: int = 5
    """Frames in the moving average over box centres and sizes."""
    threshold: float = 0.35
    """Detector confidence needed for a detection."""
    min_iou: float = 0.1
    """Overlap with a track's predicted box that joins a detection to the track."""
    detect_max_side: int = 1280
    """Frames larger than this (1080p, 4K) are scaled down for the detector; 0 keeps full size."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaceTrack:
    """One face followed through time; ``frames`` has a box for every frame it covers."""

    track_id: int
    frames: list[dict[str, Any]] = field(default_factory=list)
    detections: int = 0
    best_score: float = 0.0
    thumbnail: str | None = None
    crop: np.ndarray[Any, Any] | None = field(default=None, repr=False, compare=False)
    """The best-scoring face crop, only until thumbnails are written."""

    @property
    def start(self) -> float:
        return float(self.frames[0]["t"]) if self.frames else 0.0

    @property
    def end(self) -> float:
        return float(self.frames[-1]["t"]) if self.frames else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "detections": self.detections,
            "best_score": round(self.best_score, 3),
            "thumbnail": self.thumbnail,
            "frames": self.frames,
        }


@dataclass
class FaceTracks:
    """All tracks of a video, with what was run to find them."""

    width: int
    height: int
    frame_count: int
    duration: float | None
    tracks: list[FaceTrack]
    params: TrackingParams
    model_sha256: str
    frames_detected: int

    def boxes_by_frame(self, track_ids: set[int] | None = None) -> dict[int, list[Box]]:
        """Frame index -> padded boxes of the chosen tracks (all tracks when ``None``)."""
        result: dict[int, list[Box]] = {}
        for track in self.tracks:
            if track_ids is not None and track.track_id not in track_ids:
                continue
            for frame in track.frames:
                x, y, w, h = frame["box"]
                result.setdefault(int(frame["frame"]), []).append((x, y, x + w, y + h))
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "frame_count": self.frame_count,
            "duration": self.duration,
            "model_sha256": self.model_sha256,
            "params": self.params.to_dict(),
            "frames_detected": self.frames_detected,
            "tracks": [t.to_dict() for t in self.tracks],
        }


@dataclass
class _Track:
    track_id: int
    scene: int
    hits: list[tuple[int, Box, float]] = field(default_factory=list)
    misses: int = 0
    best_score: float = 0.0
    best_crop: np.ndarray[Any, Any] | None = None

    def predict(self, index: int) -> Box:
        last_index, last, _ = self.hits[-1]
        if len(self.hits) < 2:
            return last
        prev_index, prev, _ = self.hits[-2]
        step = (index - last_index) / max(1, last_index - prev_index)
        return _box(a + (a - b) * step for a, b in zip(last, prev, strict=True))


class FaceTracker:
    """Joins detections into tracks as detection rounds come in (online), then fills frames."""

    def __init__(self, params: TrackingParams) -> None:
        self.params = params
        self.active: list[_Track] = []
        self.closed: list[_Track] = []
        self.scene = 0
        self.scene_starts: list[int] = [0]
        self.detection_frames: list[int] = []
        self._next_id = 1
        self._scale = 1.0

    def new_scene(self, index: int) -> None:
        self.closed.extend(self.active)
        self.active = []
        self.scene += 1
        self.scene_starts.append(index)

    def update(
        self,
        index: int,
        detections: list[Detection],
        rgb: np.ndarray[Any, Any],
        scale: float = 1.0,
    ) -> None:
        """One detection round at frame ``index``; ``rgb`` (scaled by ``scale``) for thumbnails."""
        self._scale = scale
        self.detection_frames.append(index)
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(self.active):
            predicted = track.predict(index)
            for di, det in enumerate(detections):
                box = (det.x1, det.y1, det.x2, det.y2)
                overlap = iou(predicted, box)
                distance = _centre_distance(predicted, box)
                # A face can move further the longer it went unseen.
                gate = 1.0 + 0.1 * (index - track.hits[-1][0])
                if overlap >= self.params.min_iou or distance < gate:
                    pairs.append((overlap - 0.1 * distance, ti, di))
        pairs.sort(reverse=True)
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        for _, ti, di in pairs:
            if ti in used_tracks or di in used_dets:
                continue
            used_tracks.add(ti)
            used_dets.add(di)
            self._hit(self.active[ti], index, detections[di], rgb)
        survivors: list[_Track] = []
        for ti, track in enumerate(self.active):
            if ti not in used_tracks:
                track.misses += 1
                if track.misses > self.params.max_misses:
                    self.closed.append(track)
                    continue
            survivors.append(track)
        self.active = survivors
        for di, det in enumerate(detections):
            if di not in used_dets:
                track = _Track(self._next_id, self.scene)
                self._next_id += 1
                self._hit(track, index, det, rgb)
                self.active.append(track)

    def _hit(self, track: _Track, index: int, det: Detection, rgb: np.ndarray[Any, Any]) -> None:
        track.hits.append((index, (det.x1, det.y1, det.x2, det.y2), det.score))
        track.misses = 0
        if det.score > track.best_score:
            track.best_score = det.score
            s = self._scale
            x1, y1 = max(0, int(det.x1 * s)), max(0, int(det.y1 * s))
            x2, y2 = int(det.x2 * s + 0.5), int(det.y2 * s + 0.5)
            crop = rgb[y1:y2, x1:x2]
            if crop.size:
                track.best_crop = crop.copy()

    def finish(self, times: list[float], width: int, height: int) -> list[FaceTrack]:
        """Every frame of every track: interpolated, extended, smoothed, padded, clipped."""
        tracks = sorted(self.closed + self.active, key=lambda t: t.track_id)
        self.closed, self.active = [], []
        frame_count = len(times)
        scene_bounds = [*self.scene_starts, frame_count]
        result: list[FaceTrack] = []
        for track in tracks:
            scene_start = scene_bounds[track.scene]
            scene_end = scene_bounds[track.scene + 1] - 1
            frames = self._fill(track, scene_start, scene_end, times, width, height)
            if not frames:
                continue
            face = FaceTrack(
                track_id=track.track_id,
                frames=frames,
                detections=len(track.hits),
                best_score=track.best_score,
                crop=track.best_crop,
            )
            result.append(face)
        return result

    def _previous_detection(self, index: int, floor: int) -> int:
        earlier = [d for d in self.detection_frames if floor <= d < index]
        return earlier[-1] + 1 if earlier else floor

    def _next_detection(self, index: int, rounds: int, ceiling: int) -> int:
        later = [d for d in self.detection_frames if index < d <= ceiling]
        return later[rounds - 1] - 1 if len(later) >= rounds else ceiling

    def _fill(
        self,
        track: _Track,
        scene_start: int,
        scene_end: int,
        times: list[float],
        width: int,
        height: int,
    ) -> list[dict[str, Any]]:
        p = self.params
        hits = track.hits
        first, last = hits[0][0], hits[-1][0]
        # The face may have appeared just after the previous detection round, and may still be
        # there (unseen) until the round that dropped the track: cover both stretches.
        start = self._previous_detection(first, scene_start)
        end = self._next_detection(last, p.max_misses + 1, scene_end)
        raw: list[tuple[int, Box, float, str]] = []
        for index in range(start, end + 1):
            raw.append((index, *_box_at(hits, index)))
        boxes = np.array([r[1] for r in raw], dtype=np.float64)
        centres = np.stack(
            [(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1
        )
        sizes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
        centres = _moving_average(centres, p.smoothing)
        sizes = np.maximum(_moving_average(sizes, p.smoothing), sizes)
        frames: list[dict[str, Any]] = []
        for (index, _box, score, source), centre, size in zip(raw, centres, sizes, strict=True):
            gap = _distance_to_hits(hits, index)
            # Unseen frames are less certain: let the box grow while extrapolating.
            grow = 1.0 + 2 * p.padding + (min(0.5, 0.05 * gap) if source == "extrapolated" else 0)
            half_w, half_h = size[0] * grow / 2, size[1] * grow / 2
            x1 = max(0.0, centre[0] - half_w)
            y1 = max(0.0, centre[1] - half_h)
            x2 = min(float(width), centre[0] + half_w)
            y2 = min(float(height), centre[1] + half_h)
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue
            bx, by = int(x1), int(y1)
            bw, bh = int(np.ceil(x2)) - bx, int(np.ceil(y2)) - by
            frames.append(
                {
                    "frame": index,
                    "t": round(times[index], 4),
                    "box": [bx, by, bw, bh],
                    "score": round(score, 3),
                    "source": source,
                }
            )
        return frames


def _box_at(hits: list[tuple[int, Box, float]], index: int) -> tuple[Box, float, str]:
    """The box of a track at a frame: detected, interpolated, or extrapolated at constant speed."""
    indices = [h[0] for h in hits]
    if index in indices:
        _, box, score = hits[indices.index(index)]
        return box, score, "detected"
    after = next((i for i, h in enumerate(hits) if h[0] > index), None)
    if after is not None and after > 0:
        (i0, b0, s0), (i1, b1, s1) = hits[after - 1], hits[after]
        w = (index - i0) / (i1 - i0)
        return (
            _box(a + (b - a) * w for a, b in zip(b0, b1, strict=True)),
            min(s0, s1),
            "interpolated",
        )
    if after == 0:
        ref, other = hits[0], hits[1] if len(hits) > 1 else hits[0]
    else:
        ref, other = hits[-1], hits[-2] if len(hits) > 1 else hits[-1]
    (ir, br, sr), (io, bo, _) = ref, other
    velocity = (
        _box((a - b) / (ir - io) for a, b in zip(br, bo, strict=True))
        if ir != io
        else (0.0, 0.0, 0.0, 0.0)
    )
    step = index - ir
    return _box(a + v * step for a, v in zip(br, velocity, strict=True)), sr, "extrapolated"


def _box(values: Iterable[float]) -> Box:
    x1, y1, x2, y2 = values
    return (x1, y1, x2, y2)


def _distance_to_hits(hits: list[tuple[int, Box, float]], index: int) -> int:
    return min(abs(index - h[0]) for h in hits)


def _moving_average(values: np.ndarray[Any, Any], window: int) -> np.ndarray[Any, Any]:
    if window <= 1 or len(values) < 2:
        return values
    half = window // 2
    padded = np.concatenate(
        [np.repeat(values[:1], half, 0), values, np.repeat(values[-1:], half, 0)]
    )
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    return np.stack(
        [np.convolve(padded[:, c], kernel, mode="valid") for c in range(values.shape[1])], axis=1
    )


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _centre_distance(a: Box, b: Box) -> float:
    """Distance of the centres, in units of the larger box side."""
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    scale = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1], 1.0)
    return float(np.hypot(dx, dy) / scale)
