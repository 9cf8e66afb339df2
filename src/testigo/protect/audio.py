"""Silencing or bleeping stretches of sound: a name said aloud, an address, a phone number.

Ranges are explicit times in seconds; :func:`ranges_from_transcript` finds them in a transcript
(segments or words with ``start``/``end``/``text``). Audio is processed frame by frame, so memory
stays bounded however long the recording is.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from testigo.errors import UsageError
from testigo.media._container import audio_stream, open_media

BLEEP_HZ = 1000.0
BLEEP_LEVEL = 0.25
# Words are timed to a few tens of milliseconds; widen each range so no syllable escapes.
TRANSCRIPT_MARGIN = 0.15


@dataclass(frozen=True, order=True)
class TimeRange:
    """Seconds from the start of the recording, ``start`` inclusive, ``end`` exclusive."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not (self.start >= 0 and self.end > self.start):
            raise UsageError(f"a time range needs 0 <= start < end (got {self.start}-{self.end})")

    def to_list(self) -> list[float]:
        return [round(self.start, 3), round(self.end, 3)]

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """``"12.5-14"``, ``"1:02-1:04.5"`` or ``"0:01:02-0:01:04"``."""
        match = re.fullmatch(r"\s*([0-9:.]+)\s*-\s*([0-9:.]+)\s*", text)
        if not match:
            raise UsageError(f"{text!r} is not a time range like 12.5-14 or 1:02-1:04")
        return cls(_seconds(match.group(1)), _seconds(match.group(2)))


def _seconds(text: str) -> float:
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError as exc:
        raise UsageError(f"{text!r} is not a time") from exc
    if len(parts) > 3 or any(p < 0 for p in parts):
        raise UsageError(f"{text!r} is not a time")
    value = 0.0
    for part in parts:
        value = value * 60 + part
    return value


def merge_ranges(ranges: Iterable[TimeRange]) -> list[TimeRange]:
    """Sorted, with overlapping or touching ranges joined."""
    merged: list[TimeRange] = []
    for item in sorted(ranges):
        if merged and item.start <= merged[-1].end:
            merged[-1] = TimeRange(merged[-1].start, max(merged[-1].end, item.end))
        else:
            merged.append(item)
    return merged


def _normalise(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.findall(r"\w+", folded)


def ranges_from_transcript(
    segments: Sequence[Mapping[str, Any]],
    phrases: str | Sequence[str],
    *,
    margin: float = TRANSCRIPT_MARGIN,
) -> list[TimeRange]:
    """Time ranges where any of ``phrases`` is said, from timed words or lines.

    ``segments`` are ``{"start", "end", "text"}`` items, words or whole lines (a transcript's
    segments may carry their words under ``"words"``; those are used when present). A phrase of
    several words matches consecutive words. Matching ignores case and accents. Where only line
    timings exist, the whole line is covered (better too much silence than a name left audible).
    """
    wanted = [_normalise(p) for p in ([phrases] if isinstance(phrases, str) else phrases)]
    wanted = [w for w in wanted if w]
    if not wanted:
        raise UsageError("give at least one word or phrase to find in the transcript")
    units: list[tuple[float, float, list[str]]] = []
    for segment in segments:
        words = segment.get("words")
        if isinstance(words, Sequence) and words:
            units.extend(_unit(w) for w in words)
        else:
            units.append(_unit(segment))
    # Flatten to a token stream that remembers each token's unit.
    tokens: list[tuple[str, int]] = [(tok, i) for i, u in enumerate(units) for tok in u[2]]
    found: list[TimeRange] = []
    for phrase in wanted:
        for position in range(len(tokens) - len(phrase) + 1):
            if all(tokens[position + k][0] == phrase[k] for k in range(len(phrase))):
                first = units[tokens[position][1]]
                last = units[tokens[position + len(phrase) - 1][1]]
                found.append(
                    TimeRange(round(max(0.0, first[0] - margin), 3), round(last[1] + margin, 3))
                )
    return merge_ranges(found)


def _unit(item: Mapping[str, Any]) -> tuple[float, float, list[str]]:
    try:
        start, end = float(item["start"]), float(item["end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError("every transcript segment needs numeric start and end times") from exc
    return start, max(end, start + 0.01), _normalise(str(item.get("text", "")))


def apply_to_samples(
    samples: np.ndarray[Any, Any],
    start_time: float,
    sample_rate: int,
    ranges: Sequence[TimeRange],
    bleep: bool,
) -> int:
    """Silence (or bleep) ``samples`` (channels x n, float) in place; returns samples changed."""
    count = samples.shape[-1]
    end_time = start_time + count / sample_rate
    changed = 0
    for item in ranges:
        if item.end <= start_time or item.start >= end_time:
            continue
        first = max(0, int(np.floor((item.start - start_time) * sample_rate)))
        last = min(count, int(np.ceil((item.end - start_time) * sample_rate)))
        if last <= first:
            continue
        if bleep:
            t = start_time + np.arange(first, last) / sample_rate
            samples[..., first:last] = BLEEP_LEVEL * np.sin(2 * np.pi * BLEEP_HZ * t)
        else:
            samples[..., first:last] = 0.0
        changed += last - first
    return changed


class AudioRedactor:
    """Decoded frames in, silenced frames out, ready for an AAC encoder."""

    def __init__(
        self, stream: av.audio.stream.AudioStream, ranges: Sequence[TimeRange], bleep: bool
    ) -> None:
        self.ranges = merge_ranges(ranges)
        self.bleep = bleep
        self.rate = int(stream.codec_context.sample_rate)
        self.layout = stream.codec_context.layout.name or "stereo"
        self.resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.rate)
        self.samples_changed = 0
        self._next_pts = 0

    def process(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        out: list[av.AudioFrame] = []
        for converted in self.resampler.resample(frame):
            data = converted.to_ndarray().astype(np.float32, copy=True)
            start = (
                float(converted.pts * converted.time_base)
                if converted.pts is not None and converted.time_base is not None
                else self._next_pts / self.rate
            )
            self.samples_changed += apply_to_samples(
                data, start, self.rate, self.ranges, self.bleep
            )
            new = av.AudioFrame.from_ndarray(data, format="fltp", layout=self.layout)
            new.sample_rate = self.rate
            new.pts = round(start * self.rate)
            new.time_base = Fraction(1, self.rate)
            self._next_pts = new.pts + data.shape[-1]
            out.append(new)
        return out


def redact_audio_file(
    source: str | os.PathLike[str],
    target: Path,
    ranges: Sequence[TimeRange],
    *,
    bleep: bool = False,
) -> dict[str, Any]:
    """An audio-only copy (``.m4a``, AAC) with ``ranges`` silenced or bleeped, without tags."""
    with open_media(source) as container:
        stream = audio_stream(container, Path(source).name)
        redactor = AudioRedactor(stream, ranges, bleep)
        with av.open(str(target), "w", format="mp4") as output:
            out_stream = output.add_stream("aac", rate=redactor.rate)
            out_stream.layout = redactor.layout
            for frame in container.decode(stream):
                for piece in redactor.process(frame):
                    output.mux(out_stream.encode(piece))
            for piece in redactor.process(None):
                output.mux(out_stream.encode(piece))
            output.mux(out_stream.encode(None))
    return {
        "ranges": [r.to_list() for r in redactor.ranges],
        "mode": "bleep" if bleep else "mute",
        "samples_changed": redactor.samples_changed,
        "sample_rate": redactor.rate,
    }
