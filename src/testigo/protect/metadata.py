"""Stripping what identifies the person who filmed: GPS positions, device identifiers, names.

Videos are re-muxed without their tags (no re-encoding); images are re-saved without the EXIF
fields that locate, identify the device or name the owner, and without XMP and comments. Each
function reports what was removed, for the ledger and for the person publishing the copy.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from PIL import ExifTags, Image, ImageOps

from testigo.errors import RefusedInputError
from testigo.media._container import open_media

# Container and stream tags kept in public copies: they identify nobody.
SAFE_TAGS = frozenset(
    {"language", "handler_name", "vendor_id", "major_brand", "minor_version", "compatible_brands"}
)
_GPS = re.compile(r"location|gps|iso6709|latitude|longitude|altitude|xyz", re.IGNORECASE)
_DEVICE = re.compile(
    r"make|model|serial|device|software|firmware|encoder|lens|camera|uuid|identifier|com\.android"
    r"|version",
    re.IGNORECASE,
)
_OWNER = re.compile(r"owner|author|artist|copyright|user|name|comment|title|album|description")

# EXIF tags (base IFD and Exif sub-IFD) that locate, identify the device, or name a person.
EXIF_REMOVED: dict[int, tuple[str, str]] = {
    0x8825: ("GPSInfo", "gps"),
    0x010F: ("Make", "device"),
    0x0110: ("Model", "device"),
    0x0131: ("Software", "device"),
    0x013C: ("HostComputer", "device"),
    0x013B: ("Artist", "owner"),
    0x8298: ("Copyright", "owner"),
    0x010E: ("ImageDescription", "owner"),
    0x9C9B: ("XPTitle", "owner"),
    0x9C9C: ("XPComment", "owner"),
    0x9C9D: ("XPAuthor", "owner"),
    0x9C9E: ("XPKeywords", "owner"),
    0x9C9F: ("XPSubject", "owner"),
}
EXIF_IFD_REMOVED: dict[int, tuple[str, str]] = {
    0x927C: ("MakerNote", "device"),
    0x9286: ("UserComment", "owner"),
    0xA420: ("ImageUniqueID", "device"),
    0xA430: ("CameraOwnerName", "owner"),
    0xA431: ("BodySerialNumber", "device"),
    0xA432: ("LensSpecification", "device"),
    0xA433: ("LensMake", "device"),
    0xA434: ("LensModel", "device"),
    0xA435: ("LensSerialNumber", "device"),
}
_EXIF_IFD = 0x8769


def classify_tag(key: str) -> str:
    """Why a tag is removed: ``gps``, ``device``, ``owner`` or ``other``."""
    if _GPS.search(key):
        return "gps"
    if _DEVICE.search(key):
        return "device"
    if _OWNER.search(key.lower()):
        return "owner"
    return "other"


@dataclass
class MetadataReport:
    """What was taken out of a copy, by category, and what was left in."""

    removed: dict[str, list[str]] = field(
        default_factory=lambda: {"gps": [], "device": [], "owner": [], "other": []}
    )
    kept: list[str] = field(default_factory=list)

    def remove(self, key: str, category: str | None = None) -> None:
        bucket = self.removed[category or classify_tag(key)]
        if key not in bucket:
            bucket.append(key)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.removed.values())

    def to_dict(self) -> dict[str, Any]:
        return {"removed": {k: sorted(v) for k, v in self.removed.items()}, "kept": self.kept}


def media_tags(path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """Container tags (``"format"``) and each stream's tags (``"stream:N"``)."""
    with open_media(path) as container:
        found = {"format": dict(container.metadata)}
        for stream in container.streams:
            found[f"stream:{stream.index}"] = dict(stream.metadata)
    return found


def report_video_tags(path: str | os.PathLike[str], *, keep: bool = False) -> MetadataReport:
    """What a tag-less copy of ``path`` drops (or, with ``keep``, what it carries over)."""
    report = MetadataReport()
    for where, tags in media_tags(path).items():
        for key in tags:
            label = key if where == "format" else f"{where}/{key}"
            if keep or key in SAFE_TAGS or key == "creation_time":
                report.kept.append(label)
            else:
                report.remove(label, classify_tag(key))
    return report


def strip_video_metadata(source: str | os.PathLike[str], target: Path) -> MetadataReport:
    """Re-mux ``source`` into an MP4 ``target`` with every identifying tag left out."""
    report = report_video_tags(source)
    with open_media(source) as container, av.open(str(target), "w", format="mp4") as output:
        pairs = {}
        for stream in container.streams:
            if stream.type in ("video", "audio"):
                pairs[stream.index] = output.add_stream_from_template(stream)
        if not pairs:
            raise RefusedInputError(f"{Path(source).name}: no audio or video to copy")
        if "creation_time" in container.metadata:
            output.metadata["creation_time"] = container.metadata["creation_time"]
        for packet in container.demux(*[container.streams[i] for i in pairs]):
            if packet.dts is None:
                continue
            packet.stream = pairs[packet.stream.index]
            output.mux(packet)
    return report


def strip_image(image: Image.Image, report: MetadataReport) -> Image.Exif:
    """The image's EXIF without identifying fields (the image itself is not changed)."""
    exif = image.getexif()
    for tag, (label, category) in EXIF_REMOVED.items():
        if tag in exif:
            del exif[tag]
            report.remove(label, category)
    if _EXIF_IFD in exif:
        sub = exif.get_ifd(_EXIF_IFD)
        for tag, (label, category) in EXIF_IFD_REMOVED.items():
            if tag in sub:
                del sub[tag]
                report.remove(label, category)
    for key in ("xmp", "XML:com.adobe.xmp", "comment", "photoshop"):
        if key in image.info:
            report.remove(key.split(":")[-1], "other")
    report.kept.extend(sorted(str(ExifTags.TAGS.get(t, hex(t))) for t in exif))
    return exif


def load_upright(path: str | os.PathLike[str]) -> tuple[Image.Image, str]:
    """An image turned upright by its EXIF orientation, and its format (JPEG, PNG, …)."""
    try:
        image = Image.open(path)
        image.load()
    except (OSError, Image.DecompressionBombError) as exc:
        raise RefusedInputError(f"{Path(path).name}: not a readable image ({exc})") from exc
    fmt = image.format or "PNG"
    upright = ImageOps.exif_transpose(image) or image
    return upright, fmt


def save_image(image: Image.Image, target: Path, fmt: str, exif: Image.Exif | None) -> None:
    """Save without XMP, comments or maker data; the orientation is already applied."""
    if exif is not None and 0x0112 in exif:
        del exif[0x0112]
    options: dict[str, Any] = {}
    if exif is not None and len(exif):
        options["exif"] = exif.tobytes()
    icc = image.info.get("icc_profile")
    if icc:
        options["icc_profile"] = icc
    if fmt == "JPEG":
        options["quality"] = 92
        image = image.convert("RGB")
    image.info = {}
    image.save(target, format=fmt, **options)


def strip_image_metadata(source: str | os.PathLike[str], target: Path) -> MetadataReport:
    """Copy an image without GPS, device and owner fields; other EXIF (time, exposure) stays."""
    report = MetadataReport()
    image, fmt = load_upright(source)
    exif = strip_image(image, report)
    save_image(image, target, fmt, exif)
    return report
