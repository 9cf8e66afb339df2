from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from testigo.media import probe

from . import synth


def test_phone_video_tags(phone_video: Path) -> None:
    result = probe(phone_video)
    assert result.kind == "video"
    assert result.container.startswith("mov,mp4")
    assert result.start == 0.0 and result.end == pytest.approx(6.0, abs=0.2)
    video = next(s for s in result.streams if s.type == "video")
    audio = next(s for s in result.streams if s.type == "audio")
    assert (video.codec, video.width, video.height) == ("h264", 160, 90)
    assert video.frame_rate == pytest.approx(10.0)
    assert video.variable_frame_rate is False
    assert video.rotation == 0
    assert (audio.codec, audio.sample_rate, audio.channels) == ("aac", 16_000, 1)
    assert result.creation_time == "2026-03-14T09:26:53-05:00"
    assert result.creation_time_zone_known
    assert (result.device.make, result.device.model, result.device.software) == (
        "Apple",
        "iPhone 14",
        "17.2",
    )
    assert result.location is not None
    assert result.location.iso6709 == "+41.8781-087.6298+181.0/"
    assert result.location.latitude == pytest.approx(41.8781)
    # Our synthetic file was muxed by FFmpeg, which the probe must notice.
    assert "reencoded" in result.flag_codes()
    assert "no_location" not in result.flag_codes()
    json.dumps(result.to_dict())


def test_probe_does_not_modify_the_file(phone_video: Path) -> None:
    before = hashlib.sha256(phone_video.read_bytes()).hexdigest()
    mtime = phone_video.stat().st_mtime_ns
    probe(phone_video)
    assert hashlib.sha256(phone_video.read_bytes()).hexdigest() == before
    assert phone_video.stat().st_mtime_ns == mtime


def test_android_tags_and_utc_time(tmp_path: Path) -> None:
    path = synth.write_video(
        tmp_path / "android.mp4",
        synth.synth_frames(1),
        metadata={
            "location": "+40.7128-074.0060/",
            "com.android.version": "14",
            "com.android.manufacturer": "Google",
            "com.android.model": "Pixel 7",
            "creation_time": "2026-03-14T14:26:53.000000Z",
        },
    )
    result = probe(path)
    assert result.location is not None and result.location.longitude == pytest.approx(-74.006)
    assert result.device.software == "14"
    assert result.device.make == "Google"
    assert result.creation_time == "2026-03-14T14:26:53+00:00"
    assert result.creation_time_zone_known


def test_missing_metadata_is_flagged(tmp_path: Path) -> None:
    path = synth.write_video(tmp_path / "bare.mp4", synth.synth_frames(1))
    codes = probe(path).flag_codes()
    assert {"no_creation_time", "no_device", "no_location"} <= set(codes)


def test_creation_after_upload(phone_video: Path) -> None:
    received = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)  # before 14:26 UTC
    assert "creation_after_received" in probe(phone_video, received_at=received).flag_codes()
    later = datetime(2026, 3, 15, tzinfo=UTC)
    assert "creation_after_received" not in probe(phone_video, received_at=later).flag_codes()


def test_creation_in_future(tmp_path: Path) -> None:
    path = synth.write_video(
        tmp_path / "future.mp4",
        synth.synth_frames(1),
        metadata={"creation_time": "2039-01-01T00:00:00.000000Z"},
    )
    assert "creation_in_future" in probe(path).flag_codes()


def test_platform_reencode_is_flagged(tmp_path: Path) -> None:
    path = synth.write_video(
        tmp_path / "yt.mp4",
        synth.synth_frames(1),
        metadata={"comment": "vid:v2 uploaded"},
    )
    result = probe(path)
    assert "platform_reencode" in result.flag_codes()


def test_rotation_and_variable_frame_rate(tmp_path: Path) -> None:
    rotated = synth.write_video(tmp_path / "rot.mp4", synth.synth_frames(1), rotation=90)
    assert probe(rotated).streams[0].rotation == 90
    stamps = [i * 33 + (i // 3) * 40 for i in range(40)]
    frames = [np.full((48, 64, 3), i * 5, np.uint8) for i in range(40)]
    vfr = synth.write_video(tmp_path / "vfr.mp4", frames, timestamps_ms=stamps)
    assert probe(vfr).streams[0].variable_frame_rate is True


def test_audio_only(tmp_path: Path) -> None:
    path = synth.write_audio(tmp_path / "voice.m4a", synth.silence(1.5))
    result = probe(path)
    assert result.kind == "audio"
    assert [s.type for s in result.streams] == ["audio"]
    assert result.duration == pytest.approx(1.5, abs=0.1)


def test_image_exif(tmp_path: Path) -> None:
    result = probe(synth.exif_jpeg(tmp_path / "photo.jpg"))
    assert result.kind == "image"
    assert result.creation_time == "2026-03-14T09:26:53-05:00"
    assert (result.device.make, result.device.model) == ("Google", "Pixel 7")
    assert result.location is not None
    assert result.location.iso6709 == "+41.8781-087.6298/"
    assert result.flags == []
    assert result.streams[0].width == 64


def test_image_without_zone_or_gps(tmp_path: Path) -> None:
    path = synth.exif_jpeg(
        tmp_path / "p.jpg", offset=None, latitude=None, software="Adobe Photoshop"
    )
    codes = probe(path).flag_codes()
    assert "creation_time_zone_unknown" in codes
    assert "no_location" in codes
    assert "edited" in codes


def test_image_without_exif(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    path.write_bytes(synth.text_image(["hello"]))
    codes = probe(path).flag_codes()
    assert {"no_exif", "no_creation_time", "no_device"} <= set(codes)
