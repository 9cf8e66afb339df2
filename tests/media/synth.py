"""Synthetic test media: videos with moving shapes and drawn text, speech, images with EXIF.

Nothing here is downloaded: every file is drawn or spoken on the spot, small by default, so that
tests of the media library (and later of the pipeline around it) can make exactly what they need.
Speech comes from ``espeak-ng`` (a Debian package); :func:`espeak_available` lets tests skip.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

Array = np.ndarray


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    ):
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


@dataclass(frozen=True)
class Scene:
    """One shot of a synthetic video: a still background with shapes and a moving block."""

    background: Array  # (h, w, 3) uint8
    block_color: tuple[int, int, int]
    block_start: tuple[int, int]
    block_velocity: tuple[int, int]


def draw_scene(width: int, height: int, seed: int, text: str | None = None) -> Scene:
    """A random layout of large coloured shapes, so scenes differ strongly from each other."""
    rng = np.random.default_rng(seed)
    base = tuple(int(v) for v in rng.integers(30, 225, size=3))
    image = Image.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0 = int(rng.integers(0, width * 3 // 4))
        y0 = int(rng.integers(0, height * 3 // 4))
        x1 = x0 + int(rng.integers(width // 8, width // 2))
        y1 = y0 + int(rng.integers(height // 8, height // 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    if text:
        size = max(10, height // 8)
        draw.rectangle(
            (width // 20, height // 20, width * 19 // 20, height // 20 + size * 6 // 5),
            fill=(255, 255, 255),
        )
        draw.text((width // 20 + 4, height // 20), text, fill=(0, 0, 0), font=_font(size))
    block = tuple(int(v) for v in rng.integers(0, 256, size=3))
    start = (int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2)))
    velocity = (int(rng.integers(-6, 7)) or 3, int(rng.integers(-4, 5)) or 2)
    return Scene(np.asarray(image), block, start, velocity)  # type: ignore[arg-type]


def render_frame(scene: Scene, index: int) -> Array:
    """The scene at frame ``index`` of the shot: the block moves, bouncing off the edges."""
    frame = scene.background.copy()
    height, width = frame.shape[:2]
    bw, bh = max(4, width // 6), max(4, height // 5)
    x = (scene.block_start[0] + scene.block_velocity[0] * index) % (2 * (width - bw))
    y = (scene.block_start[1] + scene.block_velocity[1] * index) % (2 * (height - bh))
    x = x if x < width - bw else 2 * (width - bw) - x
    y = y if y < height - bh else 2 * (height - bh) - y
    frame[y : y + bh, x : x + bw] = scene.block_color
    return frame


def synth_frames(
    seconds: float,
    *,
    width: int = 160,
    height: int = 90,
    fps: int = 10,
    scene_seconds: float = 3.0,
    seed: int = 0,
    text: str | None = None,
) -> Iterator[Array]:
    """RGB frames: a new scene every ``scene_seconds``, each with a moving block."""
    total = round(seconds * fps)
    per_scene = max(1, round(scene_seconds * fps))
    scene: Scene | None = None
    for index in range(total):
        if index % per_scene == 0:
            scene = draw_scene(width, height, seed * 100_003 + index // per_scene, text)
        assert scene is not None
        yield render_frame(scene, index % per_scene)


def write_video(
    path: Path,
    frames: Iterator[Array] | Sequence[Array],
    *,
    fps: int = 10,
    codec: str = "libx264",
    audio: Array | None = None,
    sample_rate: int = 16_000,
    metadata: dict[str, str] | None = None,
    rotation: int | None = None,
    container_format: str | None = None,
    faststart: bool = False,
    preset: str = "ultrafast",
    crf: int = 23,
    timestamps_ms: Sequence[int] | None = None,
    input_format: str = "rgb24",
) -> Path:
    """Encode RGB frames (and optionally mono float audio in [-1, 1]) into a file.

    ``timestamps_ms`` gives each frame's presentation time, for variable frame rate files.
    """
    options: dict[str, str] = {}
    if metadata and any(key.startswith("com.") for key in metadata):
        options["movflags"] = "use_metadata_tags"
    if faststart:
        options["movflags"] = (options.get("movflags", "") + "+faststart").lstrip("+")
    with av.open(str(path), "w", format=container_format, options=options) as container:
        if metadata:
            container.metadata.update(metadata)
        iterator = iter(frames)
        first = next(iterator)
        height, width = first.shape[:2]
        if input_format == "yuv420p":
            height = height * 2 // 3
        stream = cast(av.video.stream.VideoStream, container.add_stream(codec, rate=fps))
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": preset, "crf": str(crf), "tune": "fastdecode"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if timestamps_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        audio_stream: av.audio.stream.AudioStream | None = None
        if audio is not None:
            audio_stream = container.add_stream("aac", rate=sample_rate)
            audio_stream.layout = "mono"
        for number, rgb in enumerate(_chain(first, iterator)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=input_format)
            if timestamps_ms is not None:
                frame.pts = timestamps_ms[number]
                frame.time_base = Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio_stream is not None and audio is not None:
            _encode_audio(container, audio_stream, audio, sample_rate)
    return path


def _chain(first: Array, rest: Iterator[Array]) -> Iterator[Array]:
    yield first
    yield from rest


def _encode_audio(
    container: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    audio: Array,
    sample_rate: int,
) -> None:
    samples = np.clip(audio, -1.0, 1.0).astype(np.float32)
    chunk = 1024
    pts = 0
    for start in range(0, len(samples), chunk * 16):
        piece = samples[start : start + chunk * 16]
        frame = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = pts
        frame.time_base = Fraction(1, sample_rate)
        pts += len(piece)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def write_audio(path: Path, audio: Array, *, sample_rate: int = 16_000, codec: str = "aac") -> Path:
    """An audio-only file (e.g. ``.m4a`` with AAC, ``.wav`` with pcm_s16le)."""
    with av.open(str(path), "w") as container:
        stream = cast(av.audio.stream.AudioStream, container.add_stream(codec, rate=sample_rate))
        stream.layout = "mono"
        _encode_audio(container, stream, audio, sample_rate)
    return path


def write_wav(path: Path, audio: Array, sample_rate: int = 16_000) -> Path:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
    return path


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, *, sample_rate: int = 16_000, voice: str = "en-us", speed: int = 150) -> Array:
    """Speech for ``text`` from espeak-ng, as mono float32 at ``sample_rate``."""
    result = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        check=True,
        capture_output=True,
    )
    with wave.open(io.BytesIO(result.stdout)) as handle:
        rate = handle.getframerate()
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    audio = pcm.astype(np.float32) / 32768.0
    if rate != sample_rate:
        positions = np.arange(0, len(audio) * sample_rate // rate) * (rate / sample_rate)
        audio = np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)
    return audio


def silence(seconds: float, sample_rate: int = 16_000) -> Array:
    return np.zeros(round(seconds * sample_rate), dtype=np.float32)


def speech_track(
    sentences: Sequence[str],
    *,
    gap_seconds: float = 1.5,
    lead_seconds: float = 1.0,
    sample_rate: int = 16_000,
) -> tuple[Array, list[tuple[float, float, str]]]:
    """Sentences separated by silence; returns audio and the (start, end, text) of each."""
    parts = [silence(lead_seconds, sample_rate)]
    spans: list[tuple[float, float, str]] = []
    position = lead_seconds
    for sentence in sentences:
        spoken = speak(sentence, sample_rate=sample_rate)
        spans.append((position, position + len(spoken) / sample_rate, sentence))
        parts.extend([spoken, silence(gap_seconds, sample_rate)])
        position += len(spoken) / sample_rate + gap_seconds
    return np.concatenate(parts), spans


def text_image(lines: Sequence[str], *, width: int = 480, height: int = 200) -> bytes:
    """A PNG of black text on white, like a document held up to a window."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    size = max(12, height // (len(lines) * 2 + 1))
    for row, line in enumerate(lines):
        draw.text((20, 20 + row * size * 2), line, fill="black", font=_font(size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _rational(value: float) -> tuple[int, int]:
    return (round(value * 10_000), 10_000)


def exif_jpeg(
    path: Path,
    *,
    make: str | None = "Google",
    model: str | None = "Pixel 7",
    software: str | None = None,
    taken: str | None = "2026:03:14 09:26:53",
    offset: str | None = "-05:00",
    latitude: float | None = 41.8781,
    longitude: float | None = -87.6298,
    size: tuple[int, int] = (64, 48),
) -> Path:
    """A small JPEG with the EXIF a phone writes (make, model, time, GPS)."""
    image = Image.fromarray(draw_scene(size[0], size[1], seed=7).background)
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if software:
        exif[0x0131] = software
    exif_ifd: dict[int, object] = {}
    if taken:
        exif_ifd[0x9003] = taken
        exif[0x0132] = taken
    if offset:
        exif_ifd[0x9011] = offset
    if exif_ifd:
        exif[0x8769] = exif_ifd
    if latitude is not None and longitude is not None:
        exif[0x8825] = {
            1: "N" if latitude >= 0 else "S",
            2: _dms(abs(latitude)),
            3: "E" if longitude >= 0 else "W",
            4: _dms(abs(longitude)),
        }
    image.save(path, format="JPEG", exif=exif)
    return path


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return (float(degrees), float(minutes), seconds)


def letterbox(frame: Array, out_width: int, out_height: int) -> Array:
    """Fit ``frame`` inside a black canvas (bars top/bottom or left/right)."""
    height, width = frame.shape[:2]
    scale = min(out_width / width, out_height / height)
    new_w, new_h = max(2, int(width * scale)) // 2 * 2, max(2, int(height * scale)) // 2 * 2
    resized = np.asarray(Image.fromarray(frame).resize((new_w, new_h), Image.Resampling.BILINEAR))
    canvas = np.zeros((out_height, out_width, 3), dtype=np.uint8)
    top, left = (out_height - new_h) // 2, (out_width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def decode_rgb_frames(path: Path) -> Iterator[tuple[float, Array]]:
    """(time, RGB frame) for every frame of a file, to derive clips from a synthetic original."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            yield float(frame.time or 0.0), frame.to_ndarray(format="rgb24")


def write_empty_video_track(path: Path, seconds: float = 2.0) -> Path:
    """A Matroska file whose video track holds no frames at all (only its audio has data)."""
    with av.open(str(path), "w", format="matroska") as container:
        video = container.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=16_000)
        audio.layout = "mono"
        _encode_audio(container, audio, silence(seconds), 16_000)
    return path


def write_empty_audio_track(path: Path, seconds: float = 3.0) -> Path:
    """A Matroska file with pictures and a sound track that holds no sample at all."""
    with av.open(str(path), "w", format="matroska") as container:
        video = container.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=16_000)
        audio.layout = "mono"
        for frame in synth_frames(seconds, width=64, height=48, seed=2):
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    return path


def absurd_y4m(path: Path, width: int = 16_000, height: int = 9_000) -> Path:
    """A raw YUV4MPEG2 file whose header claims an absurd frame size (and one tiny frame)."""
    path.write_bytes(
        f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + b"\x00" * 64
    )
    return path


def fast_yuv_frames(
    seconds: float,
    *,
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    scene_seconds: float = 4.0,
    seed: int = 0,
) -> Iterator[Array]:
    """Like :func:`synth_frames` but as ready ``yuv420p`` planes, cheap enough for long videos.

    Each scene is drawn and converted once; per frame only the moving block is painted.
    """
    total = round(seconds * fps)
    per_scene = max(1, round(scene_seconds * fps))
    base: Array = np.zeros((height * 3 // 2, width), np.uint8)
    block_yuv = (0, 0, 0)
    scene: Scene | None = None
    bw, bh = width // 6 // 2 * 2, height // 5 // 2 * 2
    for index in range(total):
        step = index % per_scene
        if step == 0:
            scene = draw_scene(
                width,
                height,
                seed * 100_003 + index // per_scene,
                text=f"SCENE {index // per_scene}",
            )
            rgb_frame = av.VideoFrame.from_ndarray(scene.background, format="rgb24")
            base = rgb_frame.reformat(format="yuv420p").to_ndarray()
            r, g, b = scene.block_color
            block_yuv = (
                int(0.257 * r + 0.504 * g + 0.098 * b + 16),
                int(-0.148 * r - 0.291 * g + 0.439 * b + 128),
                int(0.439 * r - 0.368 * g - 0.071 * b + 128),
            )
        assert scene is not None
        frame = base.copy()
        x = (scene.block_start[0] + scene.block_velocity[0] * step) % (2 * (width - bw))
        y = (scene.block_start[1] + scene.block_velocity[1] * step) % (2 * (height - bh))
        x = (x if x < width - bw else 2 * (width - bw) - x) // 2 * 2
        y = (y if y < height - bh else 2 * (height - bh) - y) // 2 * 2
        frame[y : y + bh, x : x + bw] = block_yuv[0]
        chroma = frame[height:].reshape(2, height // 2, width // 2)
        chroma[0, y // 2 : (y + bh) // 2, x // 2 : (x + bw) // 2] = block_yuv[1]
        chroma[1, y // 2 : (y + bh) // 2, x // 2 : (x + bw) // 2] = block_yuv[2]
        yield frame
