"""Media type detection from content, never from the file name.

The formats that evidence usually comes in (phone video, photos, audio, PDFs, web pages) are
recognised by their own signatures first; anything else goes to puremagic's signature table; text
is recognised by decoding. The name's extension is only compared afterwards, to flag a mismatch.
"""

from __future__ import annotations

import contextlib
from pathlib import PurePath

import puremagic

SNIFF_BYTES = 8192

_FTYP_BRANDS = {
    b"qt  ": "video/quicktime",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"avif": "image/avif",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3gp6": "video/3gpp",
    b"3g2a": "video/3gpp2",
    b"crx ": "image/x-canon-cr3",
}

_EXTENSIONS = {
    "video/mp4": {".mp4", ".m4v"},
    "video/quicktime": {".mov", ".qt"},
    "video/webm": {".webm"},
    "video/x-matroska": {".mkv"},
    "image/jpeg": {".jpg", ".jpeg", ".jpe"},
    "image/png": {".png"},
    "image/gif": {".gif"},
    "image/webp": {".webp"},
    "image/heic": {".heic", ".heif"},
    "audio/wav": {".wav"},
    "audio/mpeg": {".mp3"},
    "audio/ogg": {".ogg", ".oga", ".opus"},
    "application/pdf": {".pdf"},
    "text/html": {".html", ".htm"},
    "text/plain": {".txt", ".text", ".md", ".srt", ".vtt"},
    "application/json": {".json"},
    "application/zip": {".zip"},
}


def _sniff_known(head: bytes) -> str | None:
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP_BRANDS:
            return _FTYP_BRANDS[brand]
        return "video/mp4"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "application/zip"
    if head.startswith(b"\x47") and len(head) > 188 and head[188:189] == b"\x47":
        return "video/mp2t"
    return None


def _sniff_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    sample = head
    for _ in range(4):  # the sniff window may have cut a multi-byte character
        try:
            decoded = sample.decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:
                return None
            sample = sample[:-1]
    else:
        return None
    stripped = decoded.lstrip("\ufeff \t\r\n").lower()
    if stripped.startswith(("<!doctype html", "<html")) or "<body" in stripped[:2000]:
        return "text/html"
    if stripped.startswith(("{", "[")):
        return "application/json"
    if stripped.startswith("webvtt"):
        return "text/vtt"
    if stripped.startswith("<?xml"):
        return "application/xml"
    return "text/plain"


def detect_media_type(head: bytes) -> str:
    """The media type of content whose first bytes are ``head``."""
    if not head:
        return "application/x-empty"
    known = _sniff_known(head)
    if known:
        return known
    text = _sniff_text(head)
    if text:
        return text
    with contextlib.suppress(puremagic.PureError, ValueError, IndexError):
        for match in puremagic.magic_string(head):
            if match.mime_type:
                return str(match.mime_type)
    return "application/octet-stream"


def extension_mismatch(name: str | None, media_type: str) -> bool:
    """True when the name claims a known type that the content is not."""
    if not name:
        return False
    suffix = PurePath(name).suffix.lower()
    if not suffix:
        return False
    claimed = {mt for mt, exts in _EXTENSIONS.items() if suffix in exts}
    return bool(claimed) and media_type not in claimed
