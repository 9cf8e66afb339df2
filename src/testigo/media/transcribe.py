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
from typing import Any

import numpy as np

from testigo.media.errors import MediaError
from testigo.media.speech import SAMPLE_RATE, VoiceActivity, decode_audio
from testigo.media.transcript import Transcript, TranscriptSegment, Word

WHISPER_MODEL_ENV = "TESTIGO_WHISPER_MODEL"
WHISPER_LANGUAGES = ("en", "es")
MOONSHINE_LANGUAGES = ("en",)
_DECODE_CHUNK = 4.0


class _Regions:
    """Groups voice activity segments into regions and cuts their samples from a rolling buffer."""

    def __init__(self, max_seconds: float, join_gap: float) -> None:
        self.max_seconds = max_seconds
        self.join_gap = join_gap
        self.buffer = np.zeros(0, dtype=np.float32)
        self.origin = 0.0  # seconds at buffer[0]
        self.group: list[tuple[float, float]] = []

    @property
    def now(self) -> float:
        return self.origin + len(self.buffer) / SAMPLE_RATE

    def cut(self, start: float, end: float) -> tuple[float, np.ndarray]:
        """The samples from ``start`` to ``end``; everything before ``end`` is then dropped."""
        start = max(start, self.origin)
        first = max(0, int((start - self.origin) * SAMPLE_RATE))
        last = min(len(self.buffer), int((end - self.origin) * SAMPLE_RATE))
        samples = self.buffer[first:last].copy()
        self.drop_before(end)
        return start, samples

    def drop_before(self, time: float) -> None:
        keep_from = max(0, min(len(self.buffer), int((time - self.origin) * SAMPLE_RATE)))
        self.buffer = self.buffer[keep_from:]
        self.origin += keep_from / SAMPLE_RATE

    def flush(self) -> Iterator[tuple[float, np.ndarray]]:
        if self.group:
            start, end = self.group[0][0], self.group[-1][1]
            self.group = []
            region = self.cut(start, end)
            if len(region[1]):
                yield region

    def add(self, start: float, end: float) -> Iterator[tuple[float, np.ndarray]]:
        start = max(start, self.origin)
        if self.group and (
            start - self.group[-1][1] > self.join_gap or end - self.group[0][0] > self.max_seconds
        ):
            yield from self.flush()
        self.group.append((start, end))


def speech_regions(
    path: str | os.PathLike[str], *, max_seconds: float = 28.0, join_gap: float = 2.0
) -> Iterator[tuple[float, np.ndarray]]:
    """(start seconds, samples) of the speech in ``path``, in time order.

    Voice activity segments less than ``join_gap`` seconds apart are joined into one region of
    at most ``max_seconds``; unbroken speech longer than that is cut. Only the audio of the
    region being built is held.
    """
    _, chunks = decode_audio(path, chunk_seconds=_DECODE_CHUNK)
    vad = VoiceActivity()
    regions = _Regions(max_seconds, join_gap)
    for chunk in chunks:
        regions.buffer = np.concatenate([regions.buffer, chunk])
        for segment in vad.feed(chunk):
            yield from regions.add(segment.start, segment.end)
        open_since = vad.open_since
        now = regions.now
        if regions.group:
            last_end = regions.group[-1][1]
            silent_since = open_since if open_since is not None else now
            too_long = open_since is not None and now - regions.group[0][0] > max_seconds
            if silent_since - last_end > join_gap or too_long:
                yield from regions.flush()
        if not regions.group:
            if open_since is None:
                regions.drop_before(now - 0.5)
            elif now - max(open_since, regions.origin) >= max_seconds:
                region = regions.cut(open_since, now)  # unbroken speech: cut it here
                if len(region[1]):
                    yield region
            else:
                regions.drop_before(open_since - 0.2)
    for segment in vad.finish():
        yield from regions.add(segment.start, segment.end)
    yield from regions.flush()


class MoonshineEngine:
    """Moonshine tiny (English), from the model bundled in ``moonshine-voice``."""

    name = "moonshine"
    # Utterances joined over short pauses give the model context; past ~10 s it degrades.
    max_region = 10.0
    join_gap = 0.6

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
            # Our own voice activity detection has cut the regions: the model's is turned off
            # (threshold 0) so each region is read as a whole, which it reads better.
            self._transcriber = Transcriber(
                str(model_dir),
                model_arch=moonshine_voice.ModelArch.TINY,
                options={"vad_threshold": "0.0"},
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
    max_region = 28.0  # whisper reads 30-second windows
    join_gap = 2.0

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
        regions = speech_regions(path, max_seconds=first.max_region, join_gap=first.join_gap)
        segments = _run(engines, regions, progress)
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
