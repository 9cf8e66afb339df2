"""Every function refuses unusable input whole, with a clear message, and never crashes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testigo import errors
from testigo.errors import RefusedInputError
from testigo.media import (
    MediaError,
    analyze_video,
    detect_speech,
    extract_keyframes,
    fingerprint_video,
    ocr_video,
    probe,
    transcribe,
)

from . import synth

STEPS: dict[str, Callable[[Path], Any]] = {
    "probe": probe,
    "keyframes": lambda p: list(extract_keyframes(p)),
    "fingerprint": fingerprint_video,
    "analyze": analyze_video,
    "speech": detect_speech,
    "transcribe": transcribe,
    "ocr_video": ocr_video,
}
VIDEO_STEPS = ("keyframes", "fingerprint", "analyze", "ocr_video")
SOUND_STEPS = ("speech", "transcribe")


@pytest.fixture(scope="module")
def bad_files(media_dir: Path, phone_video: Path) -> dict[str, Path]:
    folder = media_dir / "bad"
    folder.mkdir(exist_ok=True)
    files: dict[str, Path] = {}
    files["missing"] = folder / "missing.mp4"
    files["empty"] = folder / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["text"] = folder / "notes.mp4"
    files["text"].write_text("this is not a video\n" * 50)
    files["noise"] = folder / "noise.mov"
    files["noise"].write_bytes(os.urandom(20_000))
    files["folder"] = folder / "a-folder.mp4"
    files["folder"].mkdir(exist_ok=True)
    # Cut in half: moov at the end is lost (plain mp4) or frames are lost (faststart).
    plain = synth.write_video(folder / "plain.mp4", synth.synth_frames(6, seed=8))
    files["truncated_head"] = folder / "truncated_head.mp4"
    files["truncated_head"].write_bytes(plain.read_bytes()[: plain.stat().st_size // 2])
    data = phone_video.read_bytes()
    files["truncated_tail"] = folder / "truncated_tail.mp4"
    files["truncated_tail"].write_bytes(data[: len(data) // 2])
    # Matroska keeps its index (cues) at the end: a cut file decodes up to the cut.
    whole = synth.write_video(
        folder / "whole.mkv", synth.synth_frames(20, seed=8), container_format="matroska"
    ).read_bytes()
    files["truncated_mkv"] = folder / "truncated.mkv"
    files["truncated_mkv"].write_bytes(whole[: len(whole) * 6 // 10])
    files["empty_track"] = synth.write_empty_video_track(folder / "empty_track.mkv")
    files["absurd"] = synth.absurd_y4m(folder / "absurd.y4m")
    return files


CASES = [
    (name, step)
    for name in (
        "missing",
        "empty",
        "text",
        "noise",
        "folder",
        "truncated_head",
        "truncated_tail",
        "truncated_mkv",
        "absurd",
    )
    for step in STEPS
]


@pytest.mark.parametrize(("name", "step"), CASES)
def test_unusable_files(bad_files: dict[str, Path], name: str, step: str) -> None:
    if name == "absurd" and step in SOUND_STEPS:
        expected: type[errors.TestigoError] = MediaError  # no sound to read, said clearly
    elif name in ("truncated_tail", "truncated_mkv"):
        expected = MediaError
    else:
        expected = errors.TestigoError
    with pytest.raises(expected) as caught:
        STEPS[step](bad_files[name])
    message = str(caught.value)
    assert message and "Traceback" not in message
    assert bad_files[name].name in message or step in SOUND_STEPS or name == "absurd"


@pytest.mark.parametrize("step", VIDEO_STEPS)
def test_audio_only_is_not_a_video(tmp_path: Path, step: str) -> None:
    path = synth.write_audio(tmp_path / "voice.m4a", synth.silence(1.0))
    with pytest.raises(MediaError, match="no video stream"):
        STEPS[step](path)


@pytest.mark.parametrize("step", [*VIDEO_STEPS, *SOUND_STEPS])
def test_image_is_not_a_video(tmp_path: Path, step: str) -> None:
    path = synth.exif_jpeg(tmp_path / "photo.mp4")  # a JPEG under a video's name
    with pytest.raises(MediaError, match="still image"):
        STEPS[step](path)


@pytest.mark.parametrize("step", SOUND_STEPS)
def test_empty_sound_track(tmp_path: Path, step: str) -> None:
    path = synth.write_empty_audio_track(tmp_path / "silent_track.mkv")
    with pytest.raises(MediaError, match="no sound could be decoded"):
        STEPS[step](path)
    assert probe(path).kind == "video"  # the pictures are fine: the file is described


@pytest.mark.parametrize("step", [*VIDEO_STEPS, "probe"])
def test_empty_video_track(bad_files: dict[str, Path], step: str) -> None:
    with pytest.raises(MediaError):
        STEPS[step](bad_files["empty_track"])


def test_absurd_sizes_are_refused(bad_files: dict[str, Path], tmp_path: Path) -> None:
    for step in ("probe", *VIDEO_STEPS):
        with pytest.raises(RefusedInputError, match="16000x9000"):
            STEPS[step](bad_files["absurd"])
    huge = tmp_path / "huge.png"
    # A PNG header claiming 100000 x 100000 pixels.
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    huge.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + b"\0" * 16
    )
    with pytest.raises(RefusedInputError):
        probe(huge)


def test_truncated_image(tmp_path: Path) -> None:
    photo = synth.exif_jpeg(tmp_path / "p.jpg", size=(320, 240))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])
    with pytest.raises(MediaError, match="truncated"):
        probe(cut)


def test_received_at_must_be_aware(phone_video: Path) -> None:
    from datetime import datetime

    with pytest.raises(MediaError, match="timezone"):
        probe(phone_video, received_at=datetime(2026, 1, 1))


def test_bad_parameters(phone_video: Path) -> None:
    with pytest.raises(MediaError):
        list(extract_keyframes(phone_video, grid_seconds=0))
    with pytest.raises(MediaError):
        list(extract_keyframes(phone_video, max_frames=0))
