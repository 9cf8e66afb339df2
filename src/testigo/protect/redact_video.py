"""Writing the redacted copy of a video: faces and drawn boxes hidden, sound kept or silenced.

One streaming pass: packets are demuxed in file order, video frames are decoded, hidden and
re-encoded to H.264 one at a time, and sound is copied untouched unless ranges are silenced
(then it is decoded, silenced and re-encoded to AAC). No tags are copied unless asked, so GPS
positions, device names and owners never reach the copy.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
from PIL import Image, ImageFilter

from testigo.errors import UsageError
from testigo.media._container import (
    check_complete,
    open_media,
    stream_duration,
    video_stream,
)
from testigo.protect.audio import AudioRedactor, TimeRange

Box = tuple[float, float, float, float]
Progress = Callable[[float, str | None], None]

REDACTION_KINDS = ("blur", "pixelate", "mask")
# Audio codecs an MP4 file can carry as they are.
MP4_AUDIO = frozenset({"aac", "mp3", "alac", "opus", "ac3", "eac3", "flac"})
VIDEO_CRF = 20
VIDEO_PRESET = "veryfast"


@dataclass(frozen=True)
class ManualBox:
    """A box a person drew, in frame pixels, hidden from ``start`` to ``end`` seconds."""

    x: int
    y: int
    w: int
    h: int
    start: float
    end: float

    def __post_init__(self) -> None:
        if self.w <= 0 or self.h <= 0 or self.x < 0 or self.y < 0:
            raise UsageError("a box needs x, y >= 0 and a positive width and height")
        if not (0 <= self.start <= self.end):
            raise UsageError("a box's time range needs 0 <= start <= end")

    @classmethod
    def parse(cls, text: str) -> ManualBox:
        """``"x,y,w,h@start-end"`` (times in seconds or m:ss); without ``@…``, the whole video."""
        match = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:@\s*(.+))?", text)
        if not match:
            raise UsageError(f"{text!r} is not a box like 10,20,64,64@1.5-4")
        x, y, w, h = (int(match.group(i)) for i in range(1, 5))
        if match.group(5):
            span = TimeRange.parse(match.group(5))
            return cls(x, y, w, h, span.start, span.end)
        return cls(x, y, w, h, 0.0, float("inf"))

    def active(self, t: float) -> bool:
        return self.start <= t <= self.end

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": self.x,
            "y": self.y,
            "w": self.w,
            "h": self.h,
            "start": self.start,
            "end": None if self.end == float("inf") else self.end,
        }


def hide_regions(rgb: np.ndarray[Any, Any], boxes: Sequence[Box], kind: str) -> int:
    """Hide each box of an RGB frame in place; returns how many boxes were applied.

    ``blur`` shrinks the region to a coarse grid, blurs it and scales it back up: strong enough
    that a face cannot be recognised or sharpened back, and cheap. ``pixelate`` keeps the coarse
    blocks; ``mask`` paints the region black.
    """
    height, width = rgb.shape[:2]
    applied = 0
    for x1f, y1f, x2f, y2f in boxes:
        x1, y1 = max(0, int(x1f)), max(0, int(y1f))
        x2, y2 = min(width, int(np.ceil(x2f))), min(height, int(np.ceil(y2f)))
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        applied += 1
        if kind == "mask":
            rgb[y1:y2, x1:x2] = 0
            continue
        region = Image.fromarray(rgb[y1:y2, x1:x2])
        # About 6 blocks across a face: identity gone, position and motion still visible.
        block = max(2, max(x2 - x1, y2 - y1) // 6)
        small = region.resize(
            (max(1, (x2 - x1) // block), max(1, (y2 - y1) // block)), Image.Resampling.BOX
        )
        if kind == "pixelate":
            hidden = small.resize(region.size, Image.Resampling.NEAREST)
        else:
            # Blurring the coarse grid, then scaling it up smoothly, costs almost nothing and
            # leaves neither detail nor block edges.
            hidden = small.filter(ImageFilter.GaussianBlur(radius=1.0)).resize(
                region.size, Image.Resampling.BICUBIC
            )
        rgb[y1:y2, x1:x2] = np.asarray(hidden)
    return applied


@dataclass
class VideoRedaction:
    frames: int
    frames_changed: int
    boxes_applied: int
    width: int
    height: int
    audio: dict[str, Any] | None
    rotation: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "frames_changed": self.frames_changed,
            "boxes_applied": self.boxes_applied,
            "width": self.width,
            "height": self.height,
            "audio": self.audio,
            "rotation": self.rotation,
        }


def redact_video(
    source: str | os.PathLike[str],
    target: Path,
    *,
    face_boxes: Mapping[int, Sequence[Box]],
    manual_boxes: Sequence[ManualBox] = (),
    kind: str = "blur",
    mute: Sequence[TimeRange] = (),
    bleep: bool = False,
    drop_audio: bool = False,
    metadata: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> VideoRedaction:
    """Write ``target`` (MP4, H.264) with the boxes hidden and the ranges silenced.

    ``face_boxes`` maps a frame's index (in presentation order, as counted by
    :func:`testigo.protect.faces.track_faces`) to the boxes hidden in it. ``metadata`` is the only
    set of container tags written (none by default).
    """
    if kind not in REDACTION_KINDS:
        raise UsageError(f"the redaction kind must be one of {', '.join(REDACTION_KINDS)}")
    name = Path(source).name
    with open_media(source) as container:
        in_video = video_stream(container, name)
        duration = stream_duration(in_video, container)
        in_audio = None if drop_audio or not container.streams.audio else container.streams.audio[0]
        width = in_video.codec_context.width // 2 * 2
        height = in_video.codec_context.height // 2 * 2
        # Arbitrary keys (make, model, com.apple.*) are only written with use_metadata_tags.
        options = {"movflags": "use_metadata_tags"} if metadata else {}
        with av.open(str(target), "w", format="mp4", options=options) as output:
            if metadata:
                output.metadata.update(metadata)
            rate = in_video.average_rate or in_video.guessed_rate or Fraction(30)
            out_video = output.add_stream("libx264", rate=rate)
            out_video.width, out_video.height = width, height
            out_video.pix_fmt = "yuv420p"
            out_video.options = {"preset": VIDEO_PRESET, "crf": str(VIDEO_CRF)}
            time_base = in_video.time_base or Fraction(1, 90_000)
            out_video.codec_context.time_base = time_base
            out_video.thread_type = "AUTO"
            in_video.thread_type = "AUTO"
            redactor: AudioRedactor | None = None
            out_audio: Any = None
            copy_audio = False
            if in_audio is not None and in_audio.codec_context.sample_rate:
                if mute or in_audio.codec_context.name not in MP4_AUDIO:
                    redactor = AudioRedactor(in_audio, mute, bleep)
                    out_audio = output.add_stream("aac", rate=redactor.rate)
                    out_audio.layout = redactor.layout
                else:
                    out_audio = output.add_stream_from_template(in_audio)
                    copy_audio = True
            else:
                in_audio = None
            streams = [in_video] + ([in_audio] if in_audio is not None else [])
            index = 0
            changed = 0
            applied = 0
            rotation = _display_rotation(source)
            if rotation:
                # Side data must be on the stream before the first packet writes the header.
                out_video.set_display_rotation(rotation)
            last_time: float | None = None
            for packet in container.demux(*streams):
                if packet.stream is in_audio and in_audio is not None:
                    if copy_audio:
                        if packet.dts is None:
                            continue
                        packet.stream = out_audio
                        output.mux(packet)
                    elif redactor is not None:
                        for frame in packet.decode():
                            for piece in redactor.process(cast(av.AudioFrame, frame)):
                                output.mux(out_audio.encode(piece))
                    continue
                for frame in packet.decode():
                    video_frame = cast(av.VideoFrame, frame)
                    t = float(video_frame.time) if video_frame.time is not None else 0.0
                    last_time = t
                    boxes = list(face_boxes.get(index, ()))
                    boxes += [(b.x, b.y, b.x + b.w, b.y + b.h) for b in manual_boxes if b.active(t)]
                    if boxes:
                        rgb = video_frame.to_ndarray(format="rgb24")
                        count = hide_regions(rgb, boxes, kind)
                        applied += count
                        changed += 1 if count else 0
                        trimmed: np.ndarray[Any, np.dtype[np.uint8]] = np.ascontiguousarray(
                            rgb[:height, :width]
                        )
                        new = av.VideoFrame.from_ndarray(trimmed, format="rgb24")
                    else:
                        new = video_frame.reformat(width=width, height=height, format="yuv420p")
                    new.pts = video_frame.pts
                    new.time_base = time_base
                    output.mux(out_video.encode(new))
                    index += 1
                    if progress is not None and duration and index % 10 == 0:
                        progress(min(0.99, t / duration), "writing the redacted copy")
            output.mux(out_video.encode(None))
            if redactor is not None:
                for piece in redactor.process(None):
                    output.mux(out_audio.encode(piece))
                output.mux(out_audio.encode(None))
            check_complete(name, last_time, duration)
    audio: dict[str, Any] | None = None
    if in_audio is not None:
        audio = {
            "kept": True,
            "reencoded": redactor is not None,
            "ranges": [r.to_list() for r in redactor.ranges] if redactor else [],
            "mode": ("bleep" if bleep else "mute") if mute else None,
            "samples_changed": redactor.samples_changed if redactor else 0,
        }
    return VideoRedaction(
        frames=index,
        frames_changed=changed,
        boxes_applied=applied,
        width=width,
        height=height,
        audio=audio,
        rotation=rotation,
    )


def _display_rotation(source: str | os.PathLike[str]) -> int:
    """Degrees the player turns the picture (phones record sideways and say so)."""
    with open_media(source) as container:
        stream = video_stream(container, Path(source).name)
        for frame in container.decode(stream):
            return int(frame.rotation) % 360
    return 0
