"""Import of existing captions (SubRip ``.srt`` and WebVTT ``.vtt``) as a transcript.

Platforms and some phones write captions next to a video; they are kept as a transcript whose
engine is "captions", so they sit beside (never replace) a transcript we make ourselves.
"""

from __future__ import annotations

import html
import re

from testigo.errors import RefusedInputError
from testigo.media.transcript import Transcript, TranscriptSegment

MAX_CAPTION_BYTES = 20 * 1024 * 1024

_TIMING = re.compile(
    r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*"
    r"(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})(?P<settings>.*)$"
)
_TAG = re.compile(r"<[^>]*>")
_SRT_FORMATTING = re.compile(r"\{\\[^}]*\}")


def parse_captions(data: bytes, filename: str) -> Transcript:
    """Parse SRT or WebVTT ``data``; ``filename`` (its extension) helps tell which.

    Refused whole if nothing in it is a caption cue, or if a cue's timing is broken.
    """
    if len(data) > MAX_CAPTION_BYTES:
        raise RefusedInputError(f"{filename}: a caption file over 20 MB is not plausible")
    text = _decode(data, filename)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    is_vtt = lines[0].lstrip("\ufeff").startswith("WEBVTT") or filename.lower().endswith(".vtt")
    if filename.lower().endswith(".vtt") and not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise RefusedInputError(f"{filename}: a WebVTT file must start with 'WEBVTT'")
    segments = _cues(lines, filename, is_vtt)
    if not segments:
        raise RefusedInputError(f"{filename}: no caption cues found (expected SRT or WebVTT)")
    language = _vtt_language(lines) if is_vtt else None
    return Transcript(
        segments=segments,
        engine="captions",
        model="webvtt" if is_vtt else "srt",
        language=language,
    )


def _decode(data: bytes, filename: str) -> str:
    if b"\x00" in data[:4096]:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        raise RefusedInputError(f"{filename}: binary data, not a caption file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2])
    hours = int(parts[-3]) if len(parts) == 3 else 0
    if minutes >= 60 or seconds >= 60:
        raise ValueError(stamp)
    return hours * 3600 + minutes * 60 + seconds


def _cues(lines: list[str], filename: str, is_vtt: bool) -> list[TranscriptSegment]:
    segments: list[TranscriptSegment] = []
    index = 0
    while index < len(lines):
        match = _TIMING.match(lines[index])
        if not match:
            if is_vtt and lines[index].startswith(("NOTE", "STYLE", "REGION")):
                # Skip the whole block.
                while index < len(lines) and lines[index].strip():
                    index += 1
            index += 1
            continue
        try:
            start, end = _seconds(match["start"]), _seconds(match["end"])
        except ValueError as error:
            raise RefusedInputError(
                f"{filename}: line {index + 1} has an impossible time ({lines[index].strip()})"
            ) from error
        if end < start:
            raise RefusedInputError(
                f"{filename}: line {index + 1} ends before it starts ({lines[index].strip()})"
            )
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].strip():
            body.append(lines[index].strip())
            index += 1
        text = _clean(" ".join(body))
        if text:
            segments.append(TranscriptSegment(round(start, 3), round(end, 3), text))
    segments.sort(key=lambda s: (s.start, s.end))
    return segments


def _clean(text: str) -> str:
    text = _SRT_FORMATTING.sub("", text)
    text = _TAG.sub("", text)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def _vtt_language(lines: list[str]) -> str | None:
    for line in lines[1:20]:
        if not line.strip():
            break
        if line.lower().startswith("language:"):
            return line.split(":", 1)[1].strip() or None
    return None
