"""One streaming pass over a video's frames, handing out only the few frames a step asks for.

Phone videos run to many minutes at 30 or 60 frames a second; keeping any of that in memory is not
an option. Frames are decoded with FFmpeg's threads, non-reference frames are skipped when the
sampling rate allows it, and each sampled frame is scaled down by FFmpeg before it reaches numpy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import av
import av.error

from testigo.media._container import (
    check_complete,
    declared_stream_length,
    open_media,
    stream_duration,
    video_stream,
)
from testigo.media.errors import MediaError


@dataclass(frozen=True)
class VideoInfo:
    name: str
    width: int
    height: int
    duration: float | None
    frame_rate: float | None
    declared_length: float | None = None


@dataclass(frozen=True)
class SampledFrame:
    time: float
    frame: av.VideoFrame


def scan_frames(
    path: str | os.PathLike[str], sample_fps: float
) -> tuple[VideoInfo, Iterator[SampledFrame]]:
    """Open the video, then sample frames at about ``sample_fps``.

    The info is available at once (the file is opened eagerly so bad input fails before any
    output); the iterator raises :class:`MediaError` at its end if the stream stopped early.
    """
    if sample_fps <= 0:
        raise MediaError("the sampling rate must be positive")
    manager = open_media(path)
    container = manager.__enter__()
    try:
        name = os.fspath(path).rsplit("/", 1)[-1]
        stream = video_stream(container, name)
        rate = stream.average_rate or stream.guessed_rate
        info = VideoInfo(
            name=name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            duration=stream_duration(stream, container),
            frame_rate=float(rate) if rate else None,
            declared_length=declared_stream_length(stream),
        )
    except BaseException:
        manager.__exit__(None, None, None)
        raise
    return info, _iterate(manager, container, stream, info, sample_fps)


def _iterate(
    manager: object,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    info: VideoInfo,
    sample_fps: float,
) -> Iterator[SampledFrame]:
    exit_ = manager.__exit__  # type: ignore[attr-defined]
    interval = 1.0 / sample_fps
    stream.thread_type = "AUTO"
    if info.frame_rate and info.frame_rate > sample_fps * 4:
        stream.codec_context.skip_frame = "NONREF"
    origin = (
        float(stream.start_time * stream.time_base)
        if stream.start_time and stream.time_base
        else 0.0
    )
    next_time = 0.0
    last_time: float | None = None
    try:
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            time = max(0.0, float(frame.time) - origin)
            last_time = time if last_time is None else max(last_time, time)
            if time + 1e-6 < next_time:
                continue
            yield SampledFrame(time, frame)
            next_time = (int(time / interval + 1e-6) + 1) * interval
        check_complete(info.name, last_time, info.declared_length)
    except av.error.FFmpegError as error:
        raise MediaError(
            f"{info.name}: the video data is corrupt or truncated ({error.strerror})"
        ) from error
    finally:
        exit_(None, None, None)
