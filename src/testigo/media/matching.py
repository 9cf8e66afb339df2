"""Finding re-uploads and clips: which indexed videos share footage with a new one, and where.

Every usable frame hash of the new video is compared with every indexed hash by a numpy popcount
scan (XOR, then count the differing bits); close pairs vote for a time offset between the two
videos, and the offset most frames agree on is checked frame by frame. The index lives in memory
and is saved to one ``.npz`` file. Adding a new video appends to the packed search arrays (which
grow by doubling) instead of repacking everything, so a long-lived index stays cheap to extend.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from testigo.media.errors import MediaError
from testigo.media.fingerprint import MIN_QUALITY, VideoFingerprint

# Two frame hashes at most this many bits apart (of 256) show the same picture. Unrelated
# pictures sit near 128; re-encoded, resized copies of one frame mostly under 30, and frames
# sampled half a second apart from moving footage often between 30 and 60.
MATCH_DISTANCE = 64
# At most this many query frames are used to find candidate videos; all are used to check them.
_SEARCH_FRAMES = 64
# A match needs this many query frames that agree on one offset, and this share of the frames in
# the overlap to match at that offset.
MIN_MATCHED_FRAMES = 3
MIN_MATCHED_SHARE = 0.5
# Overlap covering this share of a video's length counts as covering all of it.
_WHOLE = 0.9
_INDEX_FORMAT = 1


@dataclass(frozen=True)
class VideoMatch:
    """An indexed video sharing footage with the queried one.

    ``relationship`` is read from the queried video's side: "same" (one recording, whole on both
    sides), "clip_of" (the query is a part of the indexed video), "contains" (the indexed video is
    a part of the query) or "overlaps". ``query_start``-``query_end`` in the query shows what
    ``match_start``-``match_end`` shows in the indexed video; ``offset`` is match time minus query
    time. ``mirrored`` is true when one is the left-right mirror of the other.
    """

    video_id: str
    relationship: str
    query_start: float
    query_end: float
    match_start: float
    match_end: float
    offset: float
    mirrored: bool
    matched_frames: int
    compared_frames: int
    score: float  # share of compared frames that matched, 0-1
    median_distance: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Entry:
    times: np.ndarray  # float32 (n,)
    hashes: np.ndarray  # uint8 (n, 32)
    quality: np.ndarray  # uint8 (n,)
    duration: float
    fps: float


class _Packed:
    """Every usable hash as four uint64 columns, with its video number and time.

    Arrays have spare room at the end (``capacity``); only the first ``size`` rows are real.
    """

    def __init__(self, capacity: int) -> None:
        self.size = 0
        self.words = np.zeros((4, capacity), dtype=np.uint64)
        self.owners = np.zeros(capacity, dtype=np.int32)
        self.times = np.zeros(capacity, dtype=np.float32)
        self.ids: list[str] = []

    def append(self, video_id: str, entry: _Entry) -> None:
        usable = entry.quality >= MIN_QUALITY
        hashes = np.ascontiguousarray(entry.hashes[usable])
        count = len(hashes)
        if self.size + count > len(self.owners):
            self._grow(max(2 * len(self.owners), self.size + count, 1024))
        end = self.size + count
        self.words[:, self.size : end] = hashes.view(">u8").astype(np.uint64).T
        self.owners[self.size : end] = len(self.ids)
        self.times[self.size : end] = entry.times[usable]
        self.ids.append(video_id)
        self.size = end

    def _grow(self, capacity: int) -> None:
        words = np.zeros((4, capacity), dtype=np.uint64)
        words[:, : self.size] = self.words[:, : self.size]
        owners = np.zeros(capacity, dtype=np.int32)
        owners[: self.size] = self.owners[: self.size]
        times = np.zeros(capacity, dtype=np.float32)
        times[: self.size] = self.times[: self.size]
        self.words, self.owners, self.times = words, owners, times

    def view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        return (
            self.words[:, : self.size],
            self.owners[: self.size],
            self.times[: self.size],
            self.ids,
        )


class MatchIndex:
    """Fingerprints of indexed videos, searchable for shared footage.

    ``metadata`` is free JSON saved and loaded with the index (a caller's bookkeeping).
    """

    def __init__(self, *, max_distance: int = MATCH_DISTANCE) -> None:
        self.max_distance = max_distance
        self.metadata: dict[str, Any] = {}
        self._entries: dict[str, _Entry] = {}
        self._packed: _Packed | None = None

    @property
    def video_ids(self) -> list[str]:
        return list(self._entries)

    @property
    def frames(self) -> int:
        """How many frame hashes are indexed."""
        return sum(len(e.times) for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._entries

    def add(self, video_id: str, fingerprint: VideoFingerprint) -> None:
        """Index (or re-index) ``video_id``."""
        if not video_id:
            raise MediaError("a video id must not be empty")
        replaced = video_id in self._entries
        entry = _Entry(
            times=np.asarray(fingerprint.times, dtype=np.float32),
            hashes=np.asarray(fingerprint.hashes, dtype=np.uint8),
            quality=np.asarray(fingerprint.quality, dtype=np.uint8),
            duration=float(fingerprint.duration),
            fps=float(fingerprint.fps),
        )
        self._entries[video_id] = entry
        if replaced:
            self._packed = None  # its old hashes are somewhere in the middle: pack again
        elif self._packed is not None:
            self._packed.append(video_id, entry)

    def remove(self, video_id: str) -> None:
        if self._entries.pop(video_id, None) is None:
            raise MediaError(f"video {video_id!r} is not in the match index")
        self._packed = None

    # --- search -------------------------------------------------------------------------------

    def _pack(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """All usable hashes as four uint64 columns, with their video number and time."""
        if self._packed is None:
            usable = sum(int((e.quality >= MIN_QUALITY).sum()) for e in self._entries.values())
            packed = _Packed(usable)
            for video_id, entry in self._entries.items():
                packed.append(video_id, entry)
            self._packed = packed
        return self._packed.view()

    def query(
        self, fingerprint: VideoFingerprint, *, exclude: str | None = None
    ) -> list[VideoMatch]:
        """Indexed videos sharing footage with ``fingerprint``, best first."""
        words, owners, times, ids = self._pack()
        usable = np.flatnonzero(fingerprint.quality >= MIN_QUALITY)
        if len(usable) == 0 or len(owners) == 0:
            return []
        step = max(1, len(usable) // _SEARCH_FRAMES)
        probe = usable[::step][:_SEARCH_FRAMES]
        votes: dict[tuple[int, bool], list[tuple[float, int]]] = {}
        for mirrored, hashes in ((False, fingerprint.hashes), (True, fingerprint.mirrored)):
            query_words = np.ascontiguousarray(hashes[probe]).view(">u8").astype(np.uint64)
            for row, frame in enumerate(probe):
                distance = _distances(words, query_words[row])
                hits = np.flatnonzero(distance <= self.max_distance)
                for hit in hits:
                    offset = float(times[hit]) - float(fingerprint.times[frame])
                    votes.setdefault((int(owners[hit]), mirrored), []).append(
                        (offset, int(distance[hit]))
                    )
        matches: dict[str, VideoMatch] = {}
        for (number, mirrored), pairs in votes.items():
            video_id = ids[number]
            if video_id == exclude:
                continue
            best = self._best_offset(pairs)
            if best is None:
                continue
            match = self._verify(video_id, fingerprint, best, mirrored)
            if match is not None and (
                video_id not in matches or match.score > matches[video_id].score
            ):
                matches[video_id] = match
        return sorted(matches.values(), key=lambda m: (-m.matched_frames, -m.score, m.video_id))

    def _best_offset(self, pairs: list[tuple[float, int]]) -> float | None:
        """The offset most close pairs agree on (1-second bins, closer pairs weigh more)."""
        if len(pairs) < MIN_MATCHED_FRAMES:
            return None
        offsets = np.array([p[0] for p in pairs])
        weights = np.array([self.max_distance + 1 - p[1] for p in pairs], dtype=np.float64)
        bins = np.round(offsets).astype(np.int64)
        low = int(bins.min())
        tally = np.bincount(bins - low, weights=weights)
        # Smooth over neighbouring bins: sampling phase splits one true offset across two bins.
        smooth = tally + np.concatenate([[0], tally[:-1]]) + np.concatenate([tally[1:], [0]])
        peak = int(np.argmax(smooth)) + low
        near = np.abs(offsets - peak) <= 1.0
        if near.sum() < MIN_MATCHED_FRAMES:
            return None
        return float(np.average(offsets[near], weights=weights[near]))

    def _verify(
        self, video_id: str, fingerprint: VideoFingerprint, offset: float, mirrored: bool
    ) -> VideoMatch | None:
        """Compare every query frame with the indexed frames nearest its time at ``offset``."""
        entry = self._entries[video_id]
        hashes = fingerprint.mirrored if mirrored else fingerprint.hashes
        query_usable = fingerprint.quality >= MIN_QUALITY
        index_usable = entry.quality >= MIN_QUALITY
        tolerance = max(1.0 / entry.fps, 1.0 / fingerprint.fps) * 0.75 + 0.01
        matched_times: list[float] = []
        distances: list[int] = []
        compared = 0
        for row in np.flatnonzero(query_usable):
            target = float(fingerprint.times[row]) + offset
            if target < -tolerance or target > entry.duration + tolerance:
                continue
            near = np.flatnonzero((np.abs(entry.times - target) <= tolerance) & index_usable)
            if len(near) == 0:
                continue
            compared += 1
            best = int(
                np.unpackbits(np.bitwise_xor(entry.hashes[near], hashes[row]), axis=1)
                .sum(axis=1)
                .min()
            )
            if best <= self.max_distance:
                matched_times.append(float(fingerprint.times[row]))
                distances.append(best)
        if len(matched_times) < MIN_MATCHED_FRAMES or compared == 0:
            return None
        score = len(matched_times) / compared
        if score < MIN_MATCHED_SHARE:
            return None
        step = 1.0 / fingerprint.fps
        # The overlap the offset implies, in query time.
        overlap_start = max(0.0, -offset)
        overlap_end = min(fingerprint.duration, entry.duration - offset)
        # The matched run, widened to the implied overlap where only a few seconds are missing
        # (frames at the edges of a clip are often sampled far from the indexed ones).
        reach = 3.0 * max(step, 1.0 / entry.fps)
        query_start = min(matched_times)
        query_end = max(matched_times) + step
        if query_start - overlap_start <= reach:
            query_start = overlap_start
        if overlap_end - query_end <= reach:
            query_end = overlap_end
        query_start = max(query_start, overlap_start)
        query_end = min(query_end, overlap_end)
        match_start, match_end = query_start + offset, query_end + offset
        length = match_end - match_start
        slack = 2.0 * max(step, 1.0 / entry.fps)
        covers_query = length >= fingerprint.duration * _WHOLE - slack
        covers_index = length >= entry.duration * _WHOLE - slack
        if covers_query and covers_index:
            relationship = "same"
        elif covers_query:
            relationship = "clip_of"
        elif covers_index:
            relationship = "contains"
        else:
            relationship = "overlaps"
        return VideoMatch(
            video_id=video_id,
            relationship=relationship,
            query_start=round(query_start, 3),
            query_end=round(query_end, 3),
            match_start=round(match_start, 3),
            match_end=round(match_end, 3),
            offset=round(offset, 3),
            mirrored=mirrored,
            matched_frames=len(matched_times),
            compared_frames=compared,
            score=round(score, 3),
            median_distance=float(np.median(distances)),
        )

    # --- persistence --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` (numpy ``.npz``, no pickles), replacing it atomically."""
        target = Path(path)
        ids = list(self._entries)
        entries = [self._entries[i] for i in ids]
        meta = {
            "format": _INDEX_FORMAT,
            "max_distance": self.max_distance,
            "metadata": self.metadata,
            "ids": ids,
            "counts": [len(e.times) for e in entries],
            "durations": [e.duration for e in entries],
            "fps": [e.fps for e in entries],
        }
        arrays = {
            "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            "times": _concat([e.times for e in entries], np.float32, (0,)),
            "hashes": _concat([e.hashes for e in entries], np.uint8, (0, 32)),
            "quality": _concat([e.quality for e in entries], np.uint8, (0,)),
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, **arrays)  # type: ignore[arg-type]
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MatchIndex:
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                times, hashes, quality = data["times"], data["hashes"], data["quality"]
        except FileNotFoundError as error:
            raise MediaError(f"{path}: no match index there") from error
        except (OSError, ValueError, KeyError) as error:
            raise MediaError(f"{path}: not a match index, or a damaged one ({error})") from error
        if meta.get("format") != _INDEX_FORMAT:
            raise MediaError(f"{path}: a match index of an unknown format")
        index = cls(max_distance=int(meta["max_distance"]))
        extra = meta.get("metadata", {})
        index.metadata = dict(extra) if isinstance(extra, dict) else {}
        start = 0
        for video_id, count, duration, fps in zip(
            meta["ids"], meta["counts"], meta["durations"], meta["fps"], strict=True
        ):
            end = start + int(count)
            index._entries[video_id] = _Entry(
                times[start:end].copy(),
                hashes[start:end].copy(),
                quality[start:end].copy(),
                float(duration),
                float(fps),
            )
            start = end
        if start != len(times):
            raise MediaError(f"{path}: the match index is damaged (sizes disagree)")
        return index


def _distances(words: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distance from one hash (four uint64) to every indexed hash."""
    total: np.ndarray = np.bitwise_count(np.bitwise_xor(words[0], query[0])).astype(np.uint16)
    for column in range(1, 4):
        total += np.bitwise_count(np.bitwise_xor(words[column], query[column]))
    return total


def _concat(parts: list[np.ndarray], dtype: type, empty: tuple[int, ...]) -> np.ndarray:
    if not parts:
        return np.zeros(empty, dtype=dtype)
    return np.concatenate(parts).astype(dtype)
