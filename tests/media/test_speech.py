from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from testigo.media import MediaError, Transcript, detect_speech, transcribe
from testigo.media.transcribe import WHISPER_MODEL_ENV, speech_regions, whisper_model_dir

from . import synth


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_speech_segments_follow_the_sentences(
    speech_video: Path, speech_audio: tuple[np.ndarray, list[tuple[float, float, str]]]
) -> None:
    segments = detect_speech(speech_video)
    spans = speech_audio[1]
    # Each segment lies within one sentence (a pause inside a sentence may split it in two).
    for segment in segments:
        assert any(
            start - 0.4 <= segment.start and segment.end <= end + 0.6 for start, end, _ in spans
        ), segment
        assert 0.5 <= segment.probability <= 1.0
        assert segment.to_dict()["end"] == segment.end
    # Each sentence starts and ends with a segment.
    for start, end, _ in spans:
        inside = [s for s in segments if start - 0.4 <= s.start and s.end <= end + 0.6]
        assert inside
        assert inside[0].start == pytest.approx(start, abs=0.4)
        assert inside[-1].end == pytest.approx(end, abs=0.6)
    assert [s.start for s in segments] == sorted(s.start for s in segments)


def test_silence_has_no_speech(tmp_path: Path) -> None:
    path = synth.write_audio(tmp_path / "quiet.m4a", synth.silence(3.0))
    assert detect_speech(path) == []
    assert transcribe(path).segments == []


def test_video_without_sound(tmp_path: Path) -> None:
    path = synth.write_video(tmp_path / "mute.mp4", synth.synth_frames(1))
    with pytest.raises(MediaError, match="no audio stream"):
        detect_speech(path)
    with pytest.raises(MediaError, match="no audio stream"):
        transcribe(path)


def test_moonshine_transcript(
    speech_video: Path,
    speech_audio: tuple[np.ndarray, list[tuple[float, float, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(WHISPER_MODEL_ENV, raising=False)
    result = transcribe(speech_video)
    assert isinstance(result, Transcript)
    assert (result.engine, result.model, result.language) == (
        "moonshine",
        "moonshine-tiny-en",
        "en",
    )
    # The tiny model hears espeak's robot voice imperfectly; most words must come through.
    said = _words(result.text)
    assert len(said & {"open", "door", "show", "please", "step", "out", "car", "now"}) >= 5, (
        result.text
    )
    spans = speech_audio[1]
    for start, end, sentence in spans:
        # Each sentence is found near where it was spoken.
        near = [s for s in result.segments if s.start < end + 0.5 and s.end > start - 0.5]
        assert near, sentence
    for segment in result.segments:
        assert 0 <= segment.start < segment.end <= len(speech_audio[0]) / 16_000 + 0.5
    data = result.to_dict()
    assert set(data["segments"][0]) >= {"start", "end", "text"}


def test_long_speech_is_cut_into_bounded_regions(tmp_path: Path) -> None:
    # 70 s of unbroken noise-like "speech" is not needed: a dense track of sentences is.
    if not synth.espeak_available():
        pytest.skip("espeak-ng is not installed")
    audio, _ = synth.speech_track(["one two three four five six seven"] * 8, gap_seconds=0.2)
    path = synth.write_audio(tmp_path / "long.m4a", audio)
    total = len(audio) / 16_000
    for max_seconds, join_gap in ((28.0, 2.0), (10.0, 0.6)):
        regions = list(speech_regions(path, max_seconds=max_seconds, join_gap=join_gap))
        assert regions
        assert all(len(samples) / 16_000 <= max_seconds + 0.5 for _, samples in regions)
        starts = [start for start, _ in regions]
        assert starts == sorted(starts)
        ends = [start + len(samples) / 16_000 for start, samples in regions]
        assert all(end <= nxt + 1e-6 for end, nxt in zip(ends[:-1], starts[1:], strict=True))
        # Nearly all of this dense speech is kept.
        kept = sum(end - start for start, end in zip(starts, ends, strict=True))
        assert kept >= 0.8 * (total - 1.0)


def test_whisper_needs_a_model_folder(
    phone_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WHISPER_MODEL_ENV, raising=False)
    with pytest.raises(MediaError, match=WHISPER_MODEL_ENV):
        transcribe(phone_video, engine="whisper")
    monkeypatch.setenv(WHISPER_MODEL_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(MediaError, match="no such folder"):
        transcribe(phone_video)  # auto picks whisper once the variable is set
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(WHISPER_MODEL_ENV, str(empty))
    with pytest.raises(MediaError, match=r"model\.bin"):
        transcribe(phone_video, language="es")


def test_whisper_rejects_a_broken_model(
    phone_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("faster_whisper")
    fake = tmp_path / "fake-model"
    fake.mkdir()
    (fake / "model.bin").write_bytes(b"\0" * 64)
    (fake / "config.json").write_text("{}")
    (fake / "tokenizer.json").write_text("{}")
    assert whisper_model_dir(str(fake)) == fake
    monkeypatch.setenv(WHISPER_MODEL_ENV, str(fake))
    with pytest.raises(MediaError, match="could not be loaded"):
        transcribe(phone_video, engine="whisper", language="en")


def test_engine_and_language_choices(phone_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WHISPER_MODEL_ENV, raising=False)
    with pytest.raises(MediaError, match="unknown speech engine"):
        transcribe(phone_video, engine="nope")
    with pytest.raises(MediaError, match="English only"):
        transcribe(phone_video, engine="moonshine", language="es")
    with pytest.raises(MediaError, match=WHISPER_MODEL_ENV):
        transcribe(phone_video, language="es")  # Spanish needs the whisper model
    monkeypatch.setenv(WHISPER_MODEL_ENV, "/nonexistent")
    with pytest.raises(MediaError):
        transcribe(phone_video, engine="whisper", language="fr")
