"""What a file is and what it says about itself: streams, times, device, place, and doubts.

A lawyer's first questions about a phone video are when, where, on what device, and whether it is
the file the phone wrote. ``probe`` answers from the container and its tags only (nothing is
decoded beyond one frame, nothing is written) and flags what is missing or does not add up, so a
reviewer knows which claims the file itself can support.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import av
import av.error
from PIL import Image, UnidentifiedImageError

from testigo.errors import RefusedInputError
from testigo.media._container import (
    MAX_PIXELS,
    check_dimensions,
    check_file,
    is_still_image,
    open_media,
)
from testigo.media._metadata import (
    EDITING_SOFTWARE,
    LOCAL_TIME_TAGS,
    LOCATION_TAGS,
    MAKE_TAGS,
    MODEL_TAGS,
    PLATFORM_MARKS,
    SOFTWARE_TAGS,
    UTC_TIME_TAGS,
    CaptureTime,
    Location,
    first_tag,
    location_from_iso6709,
    make_location,
    parse_exif_time,
    parse_tag_time,
)
from testigo.media.errors import MediaError

# How many video packets are read to tell constant from variable frame rate.
_RATE_SAMPLE_PACKETS = 600
# Clocks on phones and servers disagree a little; a creation time this far after the upload is
# still not flagged.
_CLOCK_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Flag:
    """Something missing or inconsistent: a stable code for programs, a sentence for people."""

    code: str
    message: str


@dataclass(frozen=True)
class StreamInfo:
    index: int
    type: str  # "video", "audio", "subtitle", "data", ...
    codec: str | None
    profile: str | None = None
    bit_rate: int | None = None
    duration: float | None = None
    language: str | None = None
    handler: str | None = None
    # video
    width: int | None = None
    height: int | None = None
    pixel_format: str | None = None
    frame_rate: float | None = None
    variable_frame_rate: bool | None = None
    rotation: int | None = None  # degrees counter-clockwise to display upright
    frames: int | None = None
    # audio
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class Device:
    make: str | None = None
    model: str | None = None
    software: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    """Facts about one file. ``start``/``end`` (seconds) is the time range they describe."""

    kind: str  # "video", "audio" or "image"
    container: str
    size_bytes: int
    start: float
    end: float
    duration: float | None
    streams: list[StreamInfo]
    creation_time: str | None  # ISO 8601, with its UTC offset when the file says it
    creation_time_zone_known: bool
    creation_time_source: str | None
    device: Device
    location: Location | None
    tags: dict[str, str]
    flags: list[Flag] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def flag_codes(self) -> list[str]:
        return [flag.code for flag in self.flags]


def probe(path: str | os.PathLike[str], *, received_at: datetime | None = None) -> ProbeResult:
    """Describe the file at ``path`` without modifying it.

    ``received_at`` is when the file reached us (the upload); a creation time after it is flagged.
    Without it, a creation time in the future is flagged instead.
    """
    file = check_file(path)
    if received_at is not None and received_at.tzinfo is None:
        raise MediaError("received_at must be timezone-aware (e.g. datetime.now(UTC))")
    image = _open_image(file)
    if image is not None:
        with image:
            return _probe_image(file, image, received_at)
    with open_media(file) as container:
        if is_still_image(container):
            raise RefusedInputError(
                f"{file.name}: an image that cannot be read (a format not supported here, "
                "or a damaged file)"
            )
        return _probe_av(file, container, received_at)


# --- audio and video ---------------------------------------------------------------------------


def _probe_av(
    file: os.PathLike[str], container: av.container.InputContainer, received_at: datetime | None
) -> ProbeResult:
    name = os.fspath(file).rsplit("/", 1)[-1]
    _check_index_within_file(container, name, os.stat(file).st_size)
    tags = {str(k): str(v) for k, v in container.metadata.items()}
    streams: list[StreamInfo] = []
    handlers: list[str] = []
    for stream in container.streams:
        stream_tags = {str(k): str(v) for k, v in stream.metadata.items()}
        handler = stream_tags.get("handler_name")
        if handler:
            handlers.append(handler)
        for key, value in stream_tags.items():
            tags.setdefault(f"stream{stream.index}:{key}", value)
        streams.append(_stream_info(container, stream, stream_tags, name))

    visual = [s for s in streams if s.type == "video"]
    audible = [s for s in streams if s.type == "audio"]
    if not visual and not audible:
        raise MediaError(f"{name}: the file has neither audio nor video streams")
    kind = "video" if visual else "audio"
    duration = container.duration / 1_000_000 if container.duration else None
    if duration is None:
        known = [s.duration for s in streams if s.duration]
        duration = max(known) if known else None

    capture = _capture_time_from_tags(tags)
    device = Device(
        make=_tag_value(tags, MAKE_TAGS),
        model=_tag_value(tags, MODEL_TAGS),
        software=_tag_value(tags, SOFTWARE_TAGS),
    )
    location_text = _tag_value(tags, LOCATION_TAGS)
    location = location_from_iso6709(location_text) if location_text else None

    flags = _common_flags(capture, device, location, location_text, received_at)
    flags.extend(_av_flags(tags, handlers, streams, duration, device))
    if kind == "video" and visual[0].frames == 0 and not duration:
        flags.append(Flag("empty_stream", "The video stream holds no frames."))
    return ProbeResult(
        kind=kind,
        container=container.format.name,
        size_bytes=container.size,
        start=0.0,
        end=duration or 0.0,
        duration=duration,
        streams=streams,
        creation_time=capture.iso() if capture else None,
        creation_time_zone_known=bool(capture and capture.zone_known),
        creation_time_source=capture.source if capture else None,
        device=device,
        location=location,
        tags=tags,
        flags=flags,
    )


def _check_index_within_file(container: av.container.InputContainer, name: str, size: int) -> None:
    """Refuse a file whose sample index (MP4/MOV, Matroska cues) points past its end."""
    for stream in container.streams:
        entries = stream.index_entries
        count = len(entries)
        if count == 0:
            continue
        last = entries[count - 1]
        if last.pos >= 0 and last.pos + last.size > size:
            raise MediaError(
                f"{name}: the file is truncated: its index points to data up to byte "
                f"{last.pos + last.size}, but the file has only {size} bytes"
            )


def _stream_info(
    container: av.container.InputContainer,
    stream: av.stream.Stream,
    tags: dict[str, str],
    name: str,
) -> StreamInfo:
    context: Any = stream.codec_context
    codec = context.name if context is not None else None
    common: dict[str, Any] = {
        "index": stream.index,
        "type": stream.type,
        "codec": codec,
        "profile": stream.profile,
        "bit_rate": (context.bit_rate or None) if context is not None else None,
        "duration": _stream_seconds(stream),
        "language": tags.get("language") if tags.get("language") != "und" else None,
        "handler": tags.get("handler_name"),
    }
    if isinstance(stream, av.video.stream.VideoStream):
        check_dimensions(name, context.width, context.height)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        variable, rotation = _sample_video(container, stream, name)
        return StreamInfo(
            **common,
            width=context.width,
            height=context.height,
            pixel_format=context.format.name if context.format else None,
            frame_rate=round(float(rate), 3) if rate else None,
            variable_frame_rate=variable,
            rotation=rotation,
            frames=stream.frames or None,
        )
    if isinstance(stream, av.audio.stream.AudioStream):
        return StreamInfo(
            **common, sample_rate=context.sample_rate or None, channels=context.channels or None
        )
    return StreamInfo(**common)


def _stream_seconds(stream: av.stream.Stream) -> float | None:
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base), 3)
    return None


def _sample_video(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, name: str
) -> tuple[bool | None, int | None]:
    """Read the first packets of ``stream``: are frame intervals regular, and how is it rotated?"""
    stamps: list[int] = []
    rotation: int | None = None
    try:
        container.seek(0)
        for packet in container.demux(stream):
            if packet.pts is not None:
                stamps.append(packet.pts)
            if rotation is None and packet.size:
                for frame in packet.decode():
                    rotation = int(frame.rotation)
                    break
            if len(stamps) >= _RATE_SAMPLE_PACKETS:
                break
    except av.error.FFmpegError as error:
        raise MediaError(
            f"{name}: the video stream cannot be read; it is empty, corrupt or truncated "
            f"({error.strerror})"
        ) from error
    finally:
        with contextlib.suppress(av.error.FFmpegError):
            container.seek(0)
    if rotation is None:
        raise MediaError(
            f"{name}: no frame of the video stream can be decoded; it is empty, corrupt or "
            "truncated"
        )
    stamps.sort()
    steps = [b - a for a, b in itertools.pairwise(stamps) if b > a]
    if len(steps) < 3:
        return None, rotation % 360
    typical = statistics.median(steps)
    irregular = sum(1 for step in steps if abs(step - typical) > typical * 0.1)
    return irregular > max(1, len(steps) // 50), rotation % 360


def _capture_time_from_tags(tags: dict[str, str]) -> CaptureTime | None:
    """Prefer the camera's local time with its offset; fall back to the UTC ``creation_time``."""
    local = first_tag(tags, LOCAL_TIME_TAGS)
    if local:
        parsed = parse_tag_time(local[1], local[0])
        if parsed is not None and parsed.zone_known:
            return parsed
    utc = first_tag(tags, UTC_TIME_TAGS)
    if utc:
        parsed = parse_tag_time(utc[1], utc[0])
        if parsed is not None:
            return parsed
    if local:
        return parse_tag_time(local[1], local[0])
    return None


def _tag_value(tags: dict[str, str], names: tuple[str, ...]) -> str | None:
    found = first_tag(tags, names)
    return found[1] if found else None


def _av_flags(
    tags: dict[str, str],
    handlers: list[str],
    streams: list[StreamInfo],
    duration: float | None,
    device: Device,
) -> list[Flag]:
    flags: list[Flag] = []
    encoder = _tag_value(tags, ("encoder",)) or ""
    stream_encoders = [v for k, v in tags.items() if k.endswith(":encoder")]
    written_by = " ".join([encoder, *stream_encoders, device.software or ""]).lower()
    tools = [tool for tool in EDITING_SOFTWARE if tool in written_by]
    if tools:
        flags.append(
            Flag(
                "reencoded",
                f"The file was written by {encoder or device.software or 'an editing tool'}: "
                "it was re-encoded or re-muxed after recording, not kept as the camera wrote it.",
            )
        )
    marks = " ".join([*handlers, *tags.values()]).lower()
    platforms = sorted({platform for mark, platform in PLATFORM_MARKS.items() if mark in marks})
    if platforms:
        flags.append(
            Flag(
                "platform_reencode",
                f"The file carries traces of {', '.join(platforms)}: it is a platform's re-encoded "
                "copy, not the original recording.",
            )
        )
    lengths = [s.duration for s in streams if s.type in ("audio", "video") and s.duration]
    if len(lengths) >= 2 and max(lengths) - min(lengths) > 2.0:
        flags.append(
            Flag(
                "stream_length_mismatch",
                f"The audio and video streams differ in length ({min(lengths):.1f} s against "
                f"{max(lengths):.1f} s): the file may have been edited or cut.",
            )
        )
    if duration is not None and duration <= 0:
        flags.append(Flag("zero_duration", "The file declares no duration."))
    return flags


def _common_flags(
    capture: CaptureTime | None,
    device: Device,
    location: Location | None,
    location_text: str | None,
    received_at: datetime | None,
) -> list[Flag]:
    flags: list[Flag] = []
    if capture is None:
        flags.append(Flag("no_creation_time", "The file does not say when it was recorded."))
    else:
        earliest, _ = capture.as_utc_bounds()
        if earliest.year < 1995:
            flags.append(
                Flag(
                    "implausible_creation_time",
                    f"The creation time {capture.iso()} is a default value, not a real clock "
                    "reading.",
                )
            )
        elif received_at is not None and earliest > received_at + _CLOCK_TOLERANCE:
            flags.append(
                Flag(
                    "creation_after_received",
                    f"The file says it was recorded at {capture.iso()}, after it was received "
                    f"({received_at.isoformat()}).",
                )
            )
        elif received_at is None and earliest > datetime.now(UTC) + _CLOCK_TOLERANCE:
            flags.append(
                Flag(
                    "creation_in_future",
                    f"The file says it was recorded at {capture.iso()}, which is in the future.",
                )
            )
        if not capture.zone_known:
            flags.append(
                Flag(
                    "creation_time_zone_unknown",
                    "The creation time has no time zone; the local time of recording is "
                    "uncertain by up to 14 hours.",
                )
            )
    if not (device.make or device.model):
        flags.append(Flag("no_device", "The file does not name the device that recorded it."))
    if location is None:
        if location_text:
            flags.append(
                Flag(
                    "invalid_location",
                    f"The location tag {location_text!r} is not a valid ISO 6709 position.",
                )
            )
        else:
            flags.append(Flag("no_location", "The file holds no GPS position."))
    return flags


# --- images ------------------------------------------------------------------------------------


def _open_image(file: os.PathLike[str]) -> Image.Image | None:
    try:
        image = Image.open(file)
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    except Image.DecompressionBombError as error:
        name = os.fspath(file).rsplit("/", 1)[-1]
        raise RefusedInputError(
            f"{name}: an image this large is beyond what any camera takes ({error})"
        ) from error
    if image.format in (None, "MPEG", "FTEX"):
        image.close()
        return None
    return image


def _probe_image(
    file: os.PathLike[str], image: Image.Image, received_at: datetime | None
) -> ProbeResult:
    name = os.fspath(file).rsplit("/", 1)[-1]
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise RefusedInputError(
            f"{name}: an image of {width}x{height} pixels is beyond what any camera takes"
        )
    check_dimensions(name, width, height)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise MediaError(f"{name}: the image is truncated or corrupt ({error})") from error
    exif = image.getexif()
    base = {int(k): v for k, v in exif.items()}
    detail = {int(k): v for k, v in exif.get_ifd(0x8769).items()}
    gps = {int(k): v for k, v in exif.get_ifd(0x8825).items()}
    tags = _exif_tags(base, detail)

    capture = None
    for tag, offset_tag, source in (
        (0x9003, 0x9011, "DateTimeOriginal"),
        (0x9004, 0x9012, "DateTimeDigitized"),
    ):
        if tag in detail:
            capture = parse_exif_time(str(detail[tag]), _str(detail.get(offset_tag)), source)
            if capture:
                break
    if capture is None and 0x0132 in base:
        capture = parse_exif_time(str(base[0x0132]), _str(detail.get(0x9010)), "DateTime")

    device = Device(
        make=_str(base.get(0x010F)), model=_str(base.get(0x0110)), software=_str(base.get(0x0131))
    )
    location = _gps_location(gps)
    flags = _common_flags(capture, device, location, None, received_at)
    if not base:
        flags.append(
            Flag("no_exif", "The image has no EXIF metadata: it was stripped or re-saved.")
        )
    if device.software and any(tool in device.software.lower() for tool in EDITING_SOFTWARE):
        flags.append(Flag("edited", f"The image was saved by {device.software}."))
    original = detail.get(0x9003)
    modified = base.get(0x0132)
    if original and modified and str(original).strip() != str(modified).strip():
        flags.append(
            Flag(
                "modified_after_capture",
                f"The image was modified at {modified}, after it was taken at {original}.",
            )
        )
    orientation = int(base.get(0x0112, 1) or 1)
    rotation = {3: 180, 6: 270, 8: 90}.get(orientation, 0)
    stream = StreamInfo(
        index=0,
        type="image",
        codec=(image.format or "").lower() or None,
        width=width,
        height=height,
        pixel_format=image.mode,
        rotation=rotation,
    )
    return ProbeResult(
        kind="image",
        container=(image.format or "unknown").lower(),
        size_bytes=os.stat(file).st_size,
        start=0.0,
        end=0.0,
        duration=None,
        streams=[stream],
        creation_time=capture.iso() if capture else None,
        creation_time_zone_known=bool(capture and capture.zone_known),
        creation_time_source=capture.source if capture else None,
        device=device,
        location=location,
        tags=tags,
        flags=flags,
    )


_EXIF_NAMES = {
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x0132: "DateTime",
    0x0112: "Orientation",
    0x9003: "DateTimeOriginal",
    0x9004: "DateTimeDigitized",
    0x9010: "OffsetTime",
    0x9011: "OffsetTimeOriginal",
    0x9012: "OffsetTimeDigitized",
    0xA002: "PixelXDimension",
    0xA003: "PixelYDimension",
    0xA420: "ImageUniqueID",
}


def _exif_tags(base: dict[int, Any], detail: dict[int, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for source in (base, detail):
        for key, value in source.items():
            label = _EXIF_NAMES.get(key)
            if label and not isinstance(value, bytes | dict):
                tags[label] = str(value).strip().rstrip("\x00")
    return tags


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, bytes):
        return None
    text = str(value).strip().rstrip("\x00").strip()
    return text or None


def _gps_location(gps: dict[int, Any]) -> Location | None:
    try:
        latitude = _degrees(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        longitude = _degrees(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    altitude = None
    if 6 in gps:
        try:
            altitude = float(gps[6]) * (-1 if gps.get(5) in (1, b"\x01") else 1)
        except (TypeError, ValueError, ZeroDivisionError):
            altitude = None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return make_location(latitude, longitude, altitude)


def _degrees(value: Any) -> float:
    degrees, minutes, seconds = (float(part) for part in value)
    return degrees + minutes / 60 + seconds / 3600
