"""Turning the bytes a user hands us into the plain text every span indexes into.

Bad input is refused whole with :class:`~testigo.errors.RefusedInputError` (binary data, text over
the size limit) or turned into a clean empty result (an HTML page with no article in it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from testigo.errors import RefusedInputError

DEFAULT_MAX_TEXT_BYTES = 5 * 1024 * 1024
"""Largest text accepted (5 MB); override with ``TESTIGO_EXTRACT_MAX_BYTES`` or ``max_bytes``."""

HTML_OVERHEAD = 4
"""An HTML page may be this many times larger than the text limit before it is refused."""

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HTML_START = re.compile(rb"\A\s*(?:<!doctype\s+html|<html|<head|<body|<\?xml)", re.IGNORECASE)
_TAG = re.compile(r"</?(?:p|div|span|a|br|article|section|h[1-6]|script|style|meta|body)\b", re.I)


def max_text_bytes() -> int:
    """The configured size limit in bytes."""
    raw = os.environ.get("TESTIGO_EXTRACT_MAX_BYTES", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return DEFAULT_MAX_TEXT_BYTES


def _looks_like_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: NUL bytes in every other position of ASCII-heavy text."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > 0.4 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.4 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


def decode_text(data: bytes) -> str:
    """Decode bytes as text: BOMs first, then UTF-8, then Windows-1252, then Latin-1.

    Refuses data that is not text (NUL bytes outside UTF-16/32, many control characters).
    Line endings are normalised to ``\\n``.
    """
    text: str | None = None
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise RefusedInputError(
                    f"The input starts with a {codec} byte-order mark but is not valid {codec}."
                ) from exc
            break
    if text is None:
        if b"\x00" in data:
            codec16 = _looks_like_utf16(data)
            if codec16 is None:
                raise RefusedInputError(
                    "The input looks binary (it contains NUL bytes), not an article's text."
                )
            try:
                text = data.decode(codec16)
            except UnicodeDecodeError as exc:
                raise RefusedInputError("The input looks binary, not an article's text.") from exc
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                try:
                    text = data.decode("cp1252")
                except UnicodeDecodeError:
                    text = data.decode("latin-1")
    return _clean(text)


def _clean(text: str) -> str:
    if "\x00" in text:
        raise RefusedInputError("The input contains NUL characters; it does not look like text.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sample = text[:20000]
    if sample and len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise RefusedInputError(
            "The input looks binary (too many control characters), not an article's text."
        )
    return _CONTROL.sub(" ", text)


@dataclass
class PreparedText:
    """The plain text to analyse and what the page itself said about the article."""

    text: str
    is_html: bool
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    date: str | None = None
    url: str | None = None


def is_html(head: bytes | str, content_type: str | None, filename: str | None) -> bool:
    """Decide from the content type, the file name, or the first bytes."""
    if content_type:
        return "html" in content_type.lower() or "xml" in content_type.lower()
    if filename and filename.lower().endswith((".html", ".htm", ".xhtml")):
        return True
    if filename and filename.lower().endswith((".txt", ".text", ".md")):
        return False
    raw = head.encode("utf-8", "replace") if isinstance(head, str) else head
    if _HTML_START.match(raw[:2048]):
        return True
    sample = raw[:4096].decode("utf-8", "replace")
    return len(_TAG.findall(sample)) >= 5


def prepare(
    data: bytes | str,
    *,
    content_type: str | None = None,
    url: str | None = None,
    filename: str | None = None,
    max_bytes: int | None = None,
) -> PreparedText:
    """Check size and kind, decode, and run HTML through trafilatura."""
    limit = max_bytes if max_bytes is not None else max_text_bytes()
    html = is_html(data[:4096], content_type, filename)
    raw_size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "replace"))
    allowed = limit * HTML_OVERHEAD if html else limit
    if raw_size > allowed:
        raise RefusedInputError(
            f"The input is {raw_size:,} bytes; the limit is {allowed:,} "
            "(set TESTIGO_EXTRACT_MAX_BYTES to change it)."
        )
    text = decode_text(data) if isinstance(data, bytes) else _clean(data)
    if not html:
        return PreparedText(text=text, is_html=False, url=url)
    return _from_html(text, url, limit)


def _from_html(html: str, url: str | None, limit: int) -> PreparedText:
    import trafilatura  # imported late: plain-text callers never pay for it

    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=False
        )
    except Exception:  # trafilatura raises many kinds on broken markup
        doc = None
    if doc is None:
        return PreparedText(text="", is_html=True, url=url)
    body = str(getattr(doc, "text", "") or "")
    title = getattr(doc, "title", None)
    if title and not body.startswith(title):
        body = f"{title}\n\n{body}"
    if len(body.encode("utf-8")) > limit:
        raise RefusedInputError(f"The article text is over the {limit:,}-byte limit.")
    return PreparedText(
        text=_clean(body),
        is_html=True,
        title=title or None,
        outlet=getattr(doc, "sitename", None) or None,
        author=getattr(doc, "author", None) or None,
        date=getattr(doc, "date", None) or None,
        url=url or getattr(doc, "url", None) or None,
    )
