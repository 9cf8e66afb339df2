"""Speech to text with timestamps, offline.

Two engines:

- ``moonshine``: the default, English only. Its model (Moonshine tiny, ONNX) ships inside the
  ``moonshine-voice`` package (versions up to 0.0.73 bundle it), so it works on a fresh install.
- ``whisper``: faster-whisper, for English and Spanish, used when ``TESTIGO_WHISPER_MODEL`` names a
  local CTranslate2 model folder (for example a copy of ``faster-whisper-small``). Nothing is ever
  downloaded: a missing or invalid folder is an error that says what to do.

The audio is decoded in a stream; voice activity detection cuts it into speech regions of at most
about 25 seconds, and only those are given to the engine, so silence costs nothing and memory
stays bounded however long the recording.
"""

from __future__ import annotations

import os
import queue
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from testigo.media.errors import MediaError
from testigo.media.speech import SAMPLE_RATE, VoiceActivity, decode_audio
from testigo.media.transcript import Transcript, TranscriptSegment, Word

WHISPER_MODEL_ENV = "TESTIGO_WHISPER_MODEL"
WHISPER_LANGUAGES = ("en", "es")
MOONSHINE_LANGUAGES = ("en",)
_REGION_TARGET = 20.0  # seconds of buffered audio after which a region is cut at a pause
_REGION_MAX = 28.0  # a region of unbroken speech is cut here regardless
_DECODE_CHUNK = 4.0


class SpeechEngine(Protocol):
    name: str
    model: str
    language: str | None

    def transcribe_region(self, samples: np.ndarray, offset: float) -> list[TranscriptSegment]:
        """Transcribe 16 kHz mono float32 ``samples`` that start ``offset`` seconds in."""
        ...


def speech_regions(path: str | os.PathLike[str]) -> Iterator[tuple[float, np.ndarray]]:
    """(start seconds, samples) of the speech in ``path``, each region at most ~28 s long."""
    _, chunks = decode_audio(path, chunk_seconds=_DECODE_CHUNK)
    vad = VoiceActivity()
    buffer = np.zeros(0, dtype=np.float32)
    origin = 0.0  # seconds at buffer[0]
    closed: list[tuple[float, float]] = []

    def cut(start: float, end: float) -> tuple[float, np.ndarray]:
        first = max(0, int((start - origin) * SAMPLE_RATE))
        last = min(len(buffer), int((end - origin) * SAMPLE_RATE))
        return max(start, origin), buffer[first:last].copy()

    for chunk in chunks:
        buffer = np.concatenate([buffer, chunk])
        closed.extend((s.start, s.end) for s in vad.feed(chunk))
        end_of_buffer = origin + len(buffer) / SAMPLE_RATE
        span = end_of_buffer - origin
        region: tuple[float, float] | None = None
        if closed and (span >= _REGION_TARGET or vad.open_since is None):
            # Wait for a short pause to grow the region, unless the buffer is long already.
            if span >= _REGION_TARGET or end_of_buffer - closed[-1][1] > 1.0:
                region = (closed[0][0], min(closed[-1][1], end_of_buffer))
        elif not closed and vad.open_since is not None and span >= _REGION_MAX:
            region = (max(origin, vad.open_since), end_of_buffer)
        if region is not None:
            start, samples = cut(*region)
            if len(samples):
                yield start, samples
            closed = []
            drop = region[1]
        elif not closed and vad.open_since is None:
            drop = end_of_buffer - 0.5
        else:
            continue
        keep_from = max(0, int((drop - origin) * SAMPLE_RATE))
        buffer = buffer[keep_from:]
        origin += keep_from / SAMPLE_RATE
    closed.extend((s.start, s.end) for s in vad.finish())
    if closed:
        start, samples = cut(closed[0][0], closed[-1][1])
        if len(samples):
            yield start, samples


class MoonshineEngine:
    """Moonshine tiny (English), from the model bundled in ``moonshine-voice``."""

    name = "moonshine"

    def __init__(self, language: str | None) -> None:
        if language not in (None, *MOONSHINE_LANGUAGES):
            raise MediaError(
                f"the built-in speech model reads English only; for {language!r} set "
                f"{WHISPER_MODEL_ENV} to a local faster-whisper model folder"
            )
        try:
            import moonshine_voice  # type: ignore[import-untyped]
            from moonshine_voice.transcriber import Transcriber  # type: ignore[import-untyped]
        except ImportError as error:
            raise MediaError(
                "the default speech engine needs the moonshine-voice package (0.0.73 or earlier, "
                "which bundle the English model)"
            ) from error
        model_dir = Path(moonshine_voice.get_model_path("tiny-en"))
        if not (model_dir / "encoder_model.ort").is_file():
            raise MediaError(
                f"the Moonshine English model is not in {model_dir}; install moonshine-voice "
                "0.0.73 or earlier, which ship it inside the package"
            )
        try:
            self._transcriber = Transcriber(
                str(model_dir), model_arch=moonshine_voice.ModelArch.TINY
            )
        except Exception as error:  # the binding raises its own error types
            raise MediaError(f"the Moonshine model could not be loaded ({error})") from error
        self.model = "moonshine-tiny-en"
        self.language: str | None = "en"

    def transcribe_region(self, samples: np.ndarray, offset: float) -> list[TranscriptSegment]:
        try:
            result = self._transcriber.transcribe_without_streaming(
                samples.astype(np.float32).tolist(), SAMPLE_RATE
            )
        except Exception as error:
            raise MediaError(
                f"Moonshine failed on the audio at {offset:.1f} s ({error})"
            ) from error
        segments: list[TranscriptSegment] = []
        for line in result.lines:
            text = (line.text or "").strip()
            if not text:
                continue
            start = offset + float(line.start_time)
            end = start + float(line.duration)
            words = None
            if line.words:
                words = [
                    Word(
                        round(offset + w.start, 3),
                        round(offset + w.end, 3),
                        w.word,
                        float(w.confidence),
                    )
                    for w in line.words
                ]
            segments.append(TranscriptSegment(round(start, 3), round(end, 3), text, words))
        return segments

    def close(self) -> None:
        self._transcriber.close()


def whisper_model_dir(value: str | None = None) -> Path:
    """The faster-whisper model folder named by ``TESTIGO_WHISPER_MODEL``, checked."""
    raw = value if value is not None else os.environ.get(WHISPER_MODEL_ENV, "")
    if not raw.strip():
        raise MediaError(
            f"the whisper engine needs {WHISPER_MODEL_ENV} set to a local faster-whisper model "
            "folder (containing model.bin and config.json); no model is downloaded"
        )
    folder = Path(raw.strip()).expanduser()
    if not folder.is_dir():
        raise MediaError(f"{WHISPER_MODEL_ENV}={raw}: no such folder")
    missing = [name for name in ("model.bin", "config.json") if not (folder / name).is_file()]
    vocabularies = ("tokenizer.json", "vocabulary.txt", "vocabulary.json")
    if not any((folder / name).is_file() for name in vocabularies):
        missing.append("tokenizer.json or vocabulary.*")
    if missing:
        raise MediaError(
            f"{WHISPER_MODEL_ENV}={raw} is not a faster-whisper (CTranslate2) model folder: "
            f"missing {', '.join(missing)}"
        )
    return folder


class WhisperEngine:
    """faster-whisper on the CPU (int8), from a local model folder."""

    name = "whisper"

    def __init__(self, language: str | None, model_dir: Path) -> None:
        if language not in (None, *WHISPER_LANGUAGES):
            raise MediaError(
                f"language {language!r} is not supported; use one of {', '.join(WHISPER_LANGUAGES)}"
            )
        try:
            from faster_whisper import WhisperModel  # type: ignore[import-untyped]
        except ImportError as error:
            raise MediaError(
                "the whisper engine needs the faster-whisper package (pip install faster-whisper)"
            ) from error
        try:
            self._model: Any = WhisperModel(
                str(model_dir), device="cpu", compute_type="int8", local_files_only=True
            )
        except Exception as error:  # CTranslate2 raises RuntimeError/ValueError of its own
            raise MediaError(
                f"the whisper model in {model_dir} could not be loaded ({error})"
            ) from error
        self.model = model_dir.name
        self.language = language

    def transcribe_region(self, samples: np.ndarray, offset: float) -> list[TranscriptSegment]:
        try:
            pieces, info = self._model.transcribe(
                samples.astype(np.float32),
                language=self.language,
                word_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=False,
            )
            pieces = list(pieces)
        except Exception as error:
            raise MediaError(f"whisper failed on the audio at {offset:.1f} s ({error})") from error
        if self.language is None and getattr(info, "language", None):
            self.language = str(info.language)
        segments: list[TranscriptSegment] = []
        for piece in pieces:
            text = str(piece.text).strip()
            if not text:
                continue
            words = [
                Word(
                    round(offset + w.start, 3),
                    round(offset + w.end, 3),
                    str(w.word).strip(),
                    round(float(w.probability), 3),
                )
                for w in (piece.words or [])
            ] or None
            segments.append(
                TranscriptSegment(
                    round(offset + piece.start, 3), round(offset + piece.end, 3), text, words
                )
            )
        return segments

    def close(self) -> None:
        self._model = None


def _engine(engine: str, language: str | None) -> MoonshineEngine | WhisperEngine:
    if engine == "auto":
        configured = os.environ.get(WHISPER_MODEL_ENV, "").strip()
        if configured or (language is not None and language not in MOONSHINE_LANGUAGES):
            return WhisperEngine(language, whisper_model_dir())
        return MoonshineEngine(language)
    if engine == "moonshine":
        return MoonshineEngine(language)
    if engine == "whisper":
        return WhisperEngine(language, whisper_model_dir())
    raise MediaError(f"unknown speech engine {engine!r}; use 'auto', 'moonshine' or 'whisper'")


def transcribe(
    path: str | os.PathLike[str],
    *,
    engine: str = "auto",
    language: str | None = None,
    workers: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> Transcript:
    """Transcribe the sound track of ``path``; segments carry times in seconds from its start.

    ``engine="auto"`` uses whisper when ``TESTIGO_WHISPER_MODEL`` is set (or the language is not
    English), Moonshine otherwise. Moonshine runs single-threaded, so by default one instance per
    core (at most two) works on successive speech regions in parallel; whisper uses its own
    threads and runs one instance. ``progress`` is called with the seconds reached so far.
    """
    first = _engine(engine, language)
    engines: list[MoonshineEngine | WhisperEngine] = [first]
    try:
        wanted = workers or (min(2, os.cpu_count() or 1) if first.name == "moonshine" else 1)
        if wanted < 1:
            raise MediaError("workers must be at least 1")
        engines.extend(_engine(first.name, language) for _ in range(wanted - 1))
        segments = _run(engines, speech_regions(path), progress)
    finally:
        for speech in engines:
            speech.close()
    segments.sort(key=lambda s: (s.start, s.end))
    return Transcript(
        segments=segments, engine=first.name, model=first.model, language=first.language
    )


def _run(
    engines: list[MoonshineEngine | WhisperEngine],
    regions: Iterator[tuple[float, np.ndarray]],
    progress: Callable[[float], None] | None,
) -> list[TranscriptSegment]:
    """Hand regions to idle engines; at most two regions per engine wait, bounding memory."""
    idle: queue.SimpleQueue[MoonshineEngine | WhisperEngine] = queue.SimpleQueue()
    for speech in engines:
        idle.put(speech)

    def work(start: float, samples: np.ndarray) -> list[TranscriptSegment]:
        speech = idle.get()
        try:
            return speech.transcribe_region(samples, start)
        finally:
            idle.put(speech)

    segments: list[TranscriptSegment] = []
    pending: deque[tuple[float, Future[list[TranscriptSegment]]]] = deque()

    def collect() -> None:
        reached, future = pending.popleft()
        segments.extend(future.result())
        if progress is not None:
            progress(reached)

    with ThreadPoolExecutor(max_workers=len(engines), thread_name_prefix="speech") as pool:
        try:
            for start, samples in regions:
                end = start + len(samples) / SAMPLE_RATE
                pending.append((end, pool.submit(work, start, samples)))
                while len(pending) >= 2 * len(engines):
                    collect()
            while pending:
                collect()
        finally:
            for _, future in pending:
                future.cancel()
    return segments
