"""Media analysis: pure functions over local files, returning JSON-able results with time ranges.

Nothing here touches the database or the job queue: callers pass a path and store what comes
back. Every function raises :class:`testigo.errors.RefusedInputError` (not media, empty, absurd)
or :class:`MediaError` (corrupt, truncated, missing the needed stream, model unavailable) with a
clear message, and never returns partial results.
"""

from __future__ import annotations

from testigo.media.analyze import VideoAnalysis, analyze_video
from testigo.media.captions import parse_captions
from testigo.media.errors import MediaError
from testigo.media.fingerprint import VideoFingerprint, fingerprint_video
from testigo.media.keyframes import Keyframe, extract_keyframes
from testigo.media.matching import MatchIndex, VideoMatch
from testigo.media.ocr import FrameText, TextBox, ocr_image, ocr_video
from testigo.media.probe import Device, Flag, ProbeResult, StreamInfo, probe
from testigo.media.speech import Segment, detect_speech
from testigo.media.transcribe import transcribe
from testigo.media.transcript import Transcript, TranscriptSegment, Word

__all__ = [
    "Device",
    "Flag",
    "FrameText",
    "Keyframe",
    "MatchIndex",
    "MediaError",
    "ProbeResult",
    "Segment",
    "StreamInfo",
    "TextBox",
    "Transcript",
    "TranscriptSegment",
    "VideoAnalysis",
    "VideoFingerprint",
    "VideoMatch",
    "Word",
    "analyze_video",
    "detect_speech",
    "extract_keyframes",
    "fingerprint_video",
    "ocr_image",
    "ocr_video",
    "parse_captions",
    "probe",
    "transcribe",
]
