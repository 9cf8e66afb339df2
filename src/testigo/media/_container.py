"""Opening media files with PyAV, turning every way a file can be unusable into a clear error.

All steps go through here so that a truncated upload, a text file named ``.mp4`` or a 100,000-pixel
wide frame is refused the same way everywhere, before any output is produced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import av.error

from testigo.errors import RefusedInputError
from testigo.media.errors import MediaError

# Larger frames than this are refused: no phone or camera makes them, and decoding one would
# need gigabytes of memory.
MAX_PIXELS = 8192 * 8192
MAX_SIDE = 16384

# Container formats that FFmpeg uses for single still images.
IMAGE_FORMATS = frozenset(
    {
        "image2",
        "png_pipe",
        "jpeg_pipe",
        "webp_pipe",
        "bmp_pipe",
        "gif",
        "tiff_pipe",
        "heif",
        "jpegxl_pipe",
        "qoi_pipe",
        "psd_pipe",
        "svg_pipe",
        "pgm_pipe",
        "ppm_pipe",
        "dpx_pipe",
        "exr_pipe",
    }
)

av.logging.set_level(av.logging.PANIC)


def check_file(path: str | os.PathLike[str]) -> Path:
    """The path as a ``Path`` if it is a non-empty regular file; refused otherwise."""
    file = Path(path)
    if not file.exists():
        raise RefusedInputError(f"{file}: no such file")
    if not file.is_file():
        raise RefusedInputError(f"{file}: not a regular file")
    if file.stat().st_size == 0:
        raise RefusedInputError(f"{file}: the file is empty")
    return file


@contextmanager
def open_media(path: str | os.PathLike[str]) -> Iterator[av.container.InputContainer]:
    """Open ``path`` read-only for demuxing, refusing files FFmpeg does not recognise."""
    file = check_file(path)
    check_matroska_length(file)
    try:
        container = av.open(str(file), mode="r", metadata_errors="replace")
    except (av.error.InvalidDataError, av.error.EOFError) as error:
        raise RefusedInputError(
            f"{file.name}: not a recognised audio, video or image file ({error.strerror})"
        ) from error
    except av.error.FFmpegError as error:
        raise MediaError(f"{file.name}: cannot be opened as media ({error.strerror})") from error
    try:
        if not container.streams:
            raise RefusedInputError(
                f"{file.name}: the file holds no audio or video stream that can be read "
                "(it is damaged, or not media)"
            )
        yield container
    except av.error.FFmpegError as error:
        raise MediaError(
            f"{file.name}: the media data is corrupt or truncated ({error.strerror})"
        ) from error
    finally:
        container.close()


_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MATROSKA_SEGMENT = b"\x18\x53\x80\x67"


def _ebml_size(data: bytes, at: int) -> tuple[int | None, int]:
    """An EBML variable-length size at ``at``: (value, or None when "unknown"; where it ends)."""
    if at >= len(data) or data[at] == 0:
        raise ValueError("not an EBML size")
    length = 9 - data[at].bit_length()
    if at + length > len(data):
        raise ValueError("cut short")
    value = data[at] & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    unknown = value == (1 << (7 * length)) - 1
    return (None if unknown else value), at + length


def check_matroska_length(file: Path) -> None:
    """Refuse a Matroska/WebM file shorter than its segment declares: it was cut short.

    Matroska has no sample index at its start (its cues come last and are lost with the tail), so
    a cut file decodes without complaint up to the cut. Its segment header says how many bytes
    follow; a file that ends before them is truncated. Live recordings write an "unknown" size
    and are not checked.
    """
    with file.open("rb") as stream:
        head = stream.read(64)
    if not head.startswith(_EBML_MAGIC):
        return
    try:
        header_size, at = _ebml_size(head, len(_EBML_MAGIC))
        if header_size is None:
            return
        at += header_size
        if head[at : at + 4] != _MATROSKA_SEGMENT:
            return
        segment_size, body = _ebml_size(head, at + 4)
    except ValueError:
        return
    if segment_size is None:
        return
    size = file.stat().st_size
    if body + segment_size > size:
        raise MediaError(
            f"{file.name}: the file is truncated: it declares {body + segment_size} bytes, but "
            f"has only {size}"
        )


def is_still_image(container: av.container.InputContainer) -> bool:
    names = set(container.format.name.split(","))
    return bool(names & IMAGE_FORMATS)


def check_dimensions(name: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise MediaError(f"{name}: the video stream has no frame size ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise RefusedInputError(
            f"{name}: a frame size of {width}x{height} is beyond what any camera records; "
            "refusing to decode it"
        )


def video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    """The main video stream, refusing still images, audio-only files and absurd frame sizes."""
    if is_still_image(container):
        raise MediaError(f"{name}: this is a still image, not a video")
    streams = [s for s in container.streams.video if not _is_attached_picture(s)]
    if not streams:
        kinds = sorted({s.type for s in container.streams})
        raise MediaError(
            f"{name}: the file has no video stream (it holds: {', '.join(kinds) or 'nothing'})"
        )
    stream = max(
        streams, key=lambda s: (s.codec_context.width or 0) * (s.codec_context.height or 0)
    )
    check_dimensions(name, stream.codec_context.width, stream.codec_context.height)
    return stream


def audio_stream(container: av.container.InputContainer, name: str) -> av.audio.stream.AudioStream:
    if is_still_image(container):
        raise MediaError(f"{name}: this is a still image; it has no sound")
    if not container.streams.audio:
        raise MediaError(f"{name}: the file has no audio stream")
    stream = container.streams.audio[0]
    if not stream.codec_context.sample_rate:
        raise MediaError(f"{name}: the audio stream has no sample rate")
    return stream


def _is_attached_picture(stream: av.stream.Stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def stream_duration(
    stream: av.stream.Stream, container: av.container.InputContainer
) -> float | None:
    """Duration in seconds, from the stream if it says, else from the container."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000
    return None


def declared_stream_length(stream: av.stream.Stream) -> float | None:
    """The length the stream itself declares (not the container, which may include others)."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    return None


def check_complete(
    name: str, decoded_until: float | None, expected: float | None, *, what: str = "frame"
) -> None:
    """Refuse a stream that stops well before its declared end: the file was cut short."""
    if decoded_until is None:
        raise MediaError(
            f"{name}: no {what} could be decoded; the stream is empty, or the file is corrupt or "
            "truncated"
        )
    if expected is not None and expected > 2.0 and decoded_until < expected * 0.9 - 1.0:
        raise MediaError(
            f"{name}: decoding stopped at {decoded_until:.1f} s of the {expected:.1f} s the file "
            "declares; it is truncated or corrupt"
        )
