"""Parsing of the metadata values phones and platforms write: times, ISO 6709 locations, tags."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

_ISO6709 = re.compile(
    r"^(?P<lat>[+-]\d{2}(?:\.\d+)?)(?P<lon>[+-]\d{3}(?:\.\d+)?)(?P<alt>[+-]\d+(?:\.\d+)?)?"
    r"(?:CRS[A-Za-z0-9_]+)?/?$"
)

# Tags that name the camera, in order of preference, for QuickTime/MP4 and Android files.
MAKE_TAGS = ("com.apple.quicktime.make", "make", "manufacturer", "com.android.manufacturer")
MODEL_TAGS = ("com.apple.quicktime.model", "model", "com.android.model")
SOFTWARE_TAGS = ("com.apple.quicktime.software", "software", "com.android.version")
LOCATION_TAGS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")
LOCAL_TIME_TAGS = ("com.apple.quicktime.creationdate", "date")
UTC_TIME_TAGS = ("creation_time",)

# Editing or re-encoding tools whose name in a tag means the file is not as the camera wrote it.
EDITING_SOFTWARE = (
    "lavf",
    "lavc",
    "handbrake",
    "adobe",
    "premiere",
    "imovie",
    "final cut",
    "capcut",
    "inshot",
    "davinci",
    "kinemaster",
    "vn video",
)

# Handler names or other tags that platforms leave when they re-encode an upload.
PLATFORM_MARKS = {
    "iso media file produced by google": "YouTube",
    "vid:v2": "TikTok",
    "tiktok": "TikTok",
    "whatsapp": "WhatsApp",
    "instagram": "Instagram",
    "facebook": "Facebook",
    "telegram": "Telegram",
    "twitter": "X/Twitter",
}


@dataclass(frozen=True)
class Location:
    """A point on Earth, kept with the ISO 6709 form it was read as (normalised)."""

    latitude: float
    longitude: float
    altitude: float | None
    iso6709: str


def location_from_iso6709(text: str) -> Location | None:
    match = _ISO6709.match(text.strip())
    if not match:
        return None
    latitude = float(match["lat"])
    longitude = float(match["lon"])
    altitude = float(match["alt"]) if match["alt"] else None
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        return None
    return make_location(latitude, longitude, altitude)


def make_location(latitude: float, longitude: float, altitude: float | None) -> Location:
    text = f"{latitude:+08.4f}{longitude:+09.4f}"
    if altitude is not None:
        text += f"{altitude:+.1f}"
    return Location(round(latitude, 6), round(longitude, 6), altitude, text + "/")


@dataclass(frozen=True)
class CaptureTime:
    """When the recording was made, with whether its time zone (UTC offset) is known."""

    value: datetime  # aware when zone_known, naive (local clock time) otherwise
    zone_known: bool
    source: str

    def iso(self) -> str:
        return self.value.isoformat()

    def as_utc_bounds(self) -> tuple[datetime, datetime]:
        """Earliest and latest UTC instant this time may mean (±14 h when the zone is unknown)."""
        if self.zone_known:
            instant = self.value.astimezone(UTC)
            return instant, instant
        naive = self.value.replace(tzinfo=UTC)
        return naive - timedelta(hours=14), naive + timedelta(hours=14)


_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})$")


def parse_tag_time(text: str, source: str) -> CaptureTime | None:
    """Parse the ISO 8601 variants found in MP4/QuickTime tags (``Z``, ``-0500``, ``-05:00``)."""
    raw = text.strip()
    if not raw:
        return None
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    match = _OFFSET.search(raw)
    if match and ":" not in raw[match.start() :]:
        raw = raw[: match.start()] + f"{match[1]}{match[2]}:{match[3]}"
    try:
        value = datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError:
        return None
    return CaptureTime(value, value.tzinfo is not None, source)


def parse_exif_time(text: str, offset: str | None, source: str) -> CaptureTime | None:
    """EXIF ``YYYY:MM:DD HH:MM:SS`` with its optional ``OffsetTime*`` (``-05:00``)."""
    try:
        value = datetime.strptime(text.strip().rstrip("\x00")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if offset:
        match = _OFFSET.search(offset.strip().rstrip("\x00"))
        if match:
            sign = -1 if match[1] == "-" else 1
            delta = timedelta(hours=int(match[2]), minutes=int(match[3])) * sign
            return CaptureTime(value.replace(tzinfo=timezone(delta)), True, source)
    return CaptureTime(value, False, source)


def first_tag(tags: dict[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """The first of ``names`` present (case-insensitively) with a non-empty value."""
    lowered = {key.lower(): (key, value) for key, value in tags.items()}
    for name in names:
        found = lowered.get(name.lower())
        if found and str(found[1]).strip():
            return found[0], str(found[1]).strip()
    return None
