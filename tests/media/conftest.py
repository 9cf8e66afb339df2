"""Media made once per test session: small, drawn or spoken here, never downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from . import synth

SENTENCES = [
    "Open the door. I have a warrant.",
    "Show me the warrant please.",
    "Step out of the car now.",
]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def speech_audio() -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    if not synth.espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return synth.speech_track(SENTENCES)


@pytest.fixture(scope="session")
def phone_video(media_dir: Path) -> Path:
    """6 s, 160x90, 10 fps, with iPhone-style QuickTime tags and a quiet sound track."""
    tone = 0.05 * np.sin(np.linspace(0, 2 * np.pi * 440 * 6, 6 * 16_000)).astype(np.float32)
    return synth.write_video(
        media_dir / "phone.mp4",
        synth.synth_frames(6, seed=3, text="CAM 2"),
        audio=tone,
        faststart=True,
        metadata={
            "com.apple.quicktime.make": "Apple",
            "com.apple.quicktime.model": "iPhone 14",
            "com.apple.quicktime.software": "17.2",
            "com.apple.quicktime.creationdate": "2026-03-14T09:26:53-0500",
            "com.apple.quicktime.location.ISO6709": "+41.8781-087.6298+181.000/",
            "creation_time": "2026-03-14T14:26:53.000000Z",
        },
    )


@pytest.fixture(scope="session")
def speech_video(media_dir: Path, speech_audio: tuple[np.ndarray, list[object]]) -> Path:
    audio = speech_audio[0]
    seconds = len(audio) / 16_000
    return synth.write_video(
        media_dir / "speech.mp4", synth.synth_frames(seconds, seed=5), audio=audio
    )


@pytest.fixture(scope="session")
def original_video(media_dir: Path) -> Path:
    """60 s at 320x180: the recording that copies and clips are made from."""
    return synth.write_video(
        media_dir / "original.mp4",
        synth.synth_frames(60, width=320, height=180, fps=10, seed=11),
        fps=10,
    )


@pytest.fixture(scope="session")
def original_frames(original_video: Path) -> list[tuple[float, np.ndarray]]:
    return list(synth.decode_rgb_frames(original_video))
