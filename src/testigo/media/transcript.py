"""The transcript data shape shared by speech recognition and imported captions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    confidence: float | None = None


@dataclass(frozen=True)
class TranscriptSegment:
    """What was said from ``start`` to ``end`` (seconds from the start of the file)."""

    start: float
    end: float
    text: str
    words: list[Word] | None = None


@dataclass(frozen=True)
class Transcript:
    """Timed text for one file; ``engine`` and ``model`` say what made it ("captions": imported)."""

    segments: list[TranscriptSegment]
    engine: str
    model: str | None
    language: str | None
    warnings: list[str] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.segments[0].start if self.segments else 0.0

    @property
    def end(self) -> float:
        return max((s.end for s in self.segments), default=0.0)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"], data["end"] = self.start, self.end
        for segment in data["segments"]:
            if segment["words"] is None:
                del segment["words"]
        return data
