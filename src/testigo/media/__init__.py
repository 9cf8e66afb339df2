"""Media analysis: pure functions over local files, returning JSON-able results with time ranges.

Nothing here touches the database or the job queue: callers pass a path and store what comes
back. Every function raises :class:`testigo.errors.RefusedInputError` (not media, empty, absurd)
or :class:`MediaError` (corrupt, truncated, missing the needed stream, model unavailable) with a
clear message, and never returns partial results.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each name loads its module on first use: importing ``testigo.media.errors`` (as the vault and
# the web app do) must not pull in PyAV, NumPy and the models.
_MODULES: dict[str, str] = {
    "VideoAnalysis": "analyze",
    "analyze_video": "analyze",
    "parse_captions": "captions",
    "MediaError": "errors",
    "VideoFingerprint": "fingerprint",
    "fingerprint_video": "fingerprint",
    "Keyframe": "keyframes",
    "extract_keyframes": "keyframes",
    "MatchIndex": "matching",
    "VideoMatch": "matching",
    "FrameText": "ocr",
    "TextBox": "ocr",
    "ocr_image": "ocr",
    "ocr_video": "ocr",
    "Device": "probe",
    "Flag": "probe",
    "ProbeResult": "probe",
    "StreamInfo": "probe",
    "probe": "probe",
    "Segment": "speech",
    "detect_speech": "speech",
    "transcribe": "transcribe",
    "Transcript": "transcript",
    "TranscriptSegment": "transcript",
    "Word": "transcript",
}


class _Package(types.ModuleType):
    """Keeps ``testigo.media.probe`` and ``testigo.media.transcribe`` naming the functions.

    Importing a submodule sets it as an attribute of the package; where a function has the same
    name as its module, the function wins, as it did when the package imported everything.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _MODULES.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
