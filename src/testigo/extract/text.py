"""Document structure shared by every rule: header lines, paragraphs, sentences, name-like runs.

All patterns here are linear (no nested quantifiers), so a hostile input cannot make them
backtrack catastrophically.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Protocol, TypeVar

ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "sr",
        "jr",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "gov",
        "sen",
        "rep",
        "rev",
        "prof",
        "dept",
        "no",
        "vs",
        "etc",
        "inc",
        "corp",
        "co",
        "ltd",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "ave",
        "blvd",
        "rd",
        "mt",
        "ft",
        "calif",
        "ariz",
        "ark",
        "colo",
        "conn",
        "del",
        "fla",
        "ga",
        "ill",
        "ind",
        "kan",
        "kans",
        "ky",
        "la",
        "md",
        "mass",
        "mich",
        "minn",
        "miss",
        "mo",
        "mont",
        "neb",
        "nev",
        "okla",
        "ore",
        "pa",
        "tenn",
        "tex",
        "vt",
        "va",
        "wash",
        "wis",
        "wyo",
        "sra",
        "sr",
        "dra",
        "lic",
    ]
)

_BOUNDARY = re.compile(r"[.!?…]+[\"”’')\]]*\s+(?=[\"“‘(¿¡]?[A-Z0-9ÁÉÍÓÚÑ])")
_WORD_BEFORE = re.compile(r"([A-Za-z]+)\.?$")
_TOKEN = r"(?:[A-Z](?:\.[A-Z])+\.?|[A-ZÁÉÍÓÚÑÜ][\w'’\-]*)"
_RUN = re.compile(
    _TOKEN
    + r"(?:[ \t\xa0]+(?:(?:de|del|la|los|las|van|von|der|da|di|du|of|the)[ \t]+){0,2}"
    + _TOKEN
    + r")*"
)

SPANISH_HINTS = frozenset(
    [
        "el",
        "la",
        "los",
        "las",
        "del",
        "que",
        "y",
        "en",
        "un",
        "una",
        "por",
        "para",
        "con",
        "según",
        "dijo",
        "sus",
        "está",
        "este",
        "esta",
        "fue",
        "como",
        "pero",
        "más",
        "sobre",
        "cuando",
        "también",
        "hijo",
        "hija",
        "agentes",
        "policía",
    ]
)
ENGLISH_HINTS = frozenset(
    [
        "the",
        "and",
        "of",
        "to",
        "in",
        "that",
        "was",
        "for",
        "on",
        "with",
        "said",
        "his",
        "her",
        "they",
        "were",
        "from",
        "by",
        "at",
        "an",
        "is",
    ]
)


@dataclass
class Sentence:
    start: int
    end: int
    text: str
    paragraph: int


@dataclass
class Header:
    title: str | None = None
    title_span: tuple[int, int] | None = None
    date_line: str | None = None
    date_span: tuple[int, int] | None = None
    byline: list[str] = field(default_factory=list)
    body_start: int = 0


@dataclass
class Document:
    text: str
    language: str
    header: Header
    paragraphs: list[tuple[int, int]]
    sentences: list[Sentence]

    @property
    def word_starts(self) -> list[int]:
        cached: list[int] | None = getattr(self, "_word_starts", None)
        if cached is None:
            cached = word_starts(self.text)
            self._word_starts = cached
        return cached

    def scan(self, pattern: re.Pattern[str], begin: int | None = None) -> list[re.Match[str]]:
        """Matches of a word-initial pattern in the body (see :func:`scan`)."""
        return scan(
            pattern, self.text, self.word_starts, self.header.body_start if begin is None else begin
        )

    def sentence_at(self, offset: int) -> Sentence | None:
        lo, hi = 0, len(self.sentences) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            s = self.sentences[mid]
            if offset < s.start:
                hi = mid - 1
            elif offset >= s.end:
                lo = mid + 1
            else:
                return s
        return None

    def index_of(self, sentence: Sentence) -> int:
        lo, hi = 0, len(self.sentences) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            if self.sentences[mid].start < sentence.start:
                lo = mid + 1
            elif self.sentences[mid].start > sentence.start:
                hi = mid - 1
            else:
                return mid
        return -1


def detect_language(text: str) -> str:
    words = re.findall(r"[a-záéíóúñü]+", text[:20000].lower())
    es = sum(1 for w in words if w in SPANISH_HINTS)
    en = sum(1 for w in words if w in ENGLISH_HINTS)
    return "es" if es > en * 1.2 and es >= 3 else "en"


def _lines(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        stripped = line.strip()
        if stripped:
            lead = len(line) - len(line.lstrip())
            spans.append((start + lead, start + lead + len(stripped)))
    return spans


def split_sentences(text: str, start: int, end: int, paragraph: int) -> list[Sentence]:
    out: list[Sentence] = []
    chunk = text[start:end]
    last = 0
    for m in _BOUNDARY.finditer(chunk):
        before = _WORD_BEFORE.search(chunk[max(0, m.start() - 12) : m.start() + 1])
        word = before.group(1).lower() if before else ""
        if chunk[m.start()] == "." and (word in ABBREVIATIONS or len(word) == 1):
            continue
        stop = m.end() - (len(m.group()) - len(m.group().rstrip()))
        out.append(Sentence(start + last, start + stop, chunk[last:stop], paragraph))
        last = m.end()
    if last < len(chunk):
        tail = chunk[last:].rstrip()
        if tail:
            out.append(Sentence(start + last, start + last + len(tail), tail, paragraph))
    return out


_DATE_LINE = re.compile(
    r"^(?:(?:published|updated|posted|publicado|actualizado)[:\s]+)?[\w ,.:\-/|]{0,80}?"
    r"(?:\b(?:1[89]|20)\d{2}\b)[\w ,.:\-/|]{0,40}$",
    re.IGNORECASE,
)
_HAS_DAY = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}\b|"
    r"\b\d{1,2}\s+(?:de\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|ene|feb|mar|abr|"
    r"may|jun|jul|ago|sep|oct|nov|dic)[a-z]*\b|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{4}\b",
    re.IGNORECASE,
)
_DATE_PREFIX = re.compile(r"(?:published|updated|posted|publicado|actualizado)\b", re.I)
_BYLINE = re.compile(r"^(?:By|Por)\s+(.{3,160})$")


def parse(text: str) -> Document:
    """Split the text into header, paragraphs and sentences."""
    lines = _lines(text)
    header = Header()
    body_index = 0
    if lines:
        s, e = lines[0]
        first = text[s:e]
        if len(first) <= 300 and not _DATE_LINE.match(first):
            header.title, header.title_span = first, (s, e)
            body_index = 1
        for idx in range(body_index, min(len(lines), body_index + 3)):
            s, e = lines[idx]
            line = text[s:e]
            by = _BYLINE.match(line)
            if by:
                header.byline = [
                    n.strip() for n in re.split(r",\s*|\s+and\s+|\s+y\s+", by.group(1)) if n.strip()
                ]
                body_index = idx + 1
            elif (
                len(line) <= 120
                and (len(line.split()) <= 7 or _DATE_PREFIX.match(line) is not None)
                and _DATE_LINE.match(line)
                and _HAS_DAY.search(line)
                and header.date_line is None
            ):
                header.date_line, header.date_span = line, (s, e)
                body_index = idx + 1
    header.body_start = lines[body_index][0] if body_index < len(lines) else len(text)
    paragraphs = lines[:body_index] + _paragraphs(text, lines[body_index:])
    sentences: list[Sentence] = []
    for number, (s, e) in enumerate(paragraphs):
        sentences.extend(split_sentences(text, s, e, number))
    return Document(
        text=text,
        language=detect_language(text),
        header=header,
        paragraphs=paragraphs,
        sentences=sentences,
    )


_LINE_END = re.compile(r"[.!?:\"”’»)]$")


def _paragraphs(text: str, lines: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Lines are paragraphs, unless the text is hard-wrapped: then blank lines separate them."""
    if len(lines) < 2:
        return lines
    open_ended = sum(
        1
        for (s, e), (ns, _) in pairwise(lines)
        if not _LINE_END.search(text[s:e]) and "\n\n" not in text[e:ns]
    )
    if open_ended < 0.3 * len(lines):
        return lines
    blocks: list[tuple[int, int]] = []
    start, end = lines[0]
    for s, e in lines[1:]:
        if "\n\n" in text[end:s].replace(" ", "").replace("\t", ""):
            blocks.append((start, end))
            start = s
        end = e
    blocks.append((start, end))
    return blocks


def name_runs(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of runs of capitalised words ("Tulsa Police Department", "Mario Peña")."""
    return [
        (m.start(), m.end()) for m in _RUN.finditer(text, start, len(text) if end is None else end)
    ]


class _HasStart(Protocol):
    @property
    def start(self) -> int: ...


T = TypeVar("T", bound=_HasStart)


class SpanIndex:
    """Spans sorted by start, for finding those inside or before an offset in O(log n)."""

    def __init__(self, spans: Sequence[tuple[int, int]]) -> None:
        self.spans = sorted(spans)
        self.starts = [s for s, _ in self.spans]
        self.mask: bytearray | None = None

    def inside(self, start: int, end: int) -> list[int]:
        """Indexes (in sorted order) of spans starting in [start, end)."""
        lo = bisect_left(self.starts, start)
        hi = bisect_left(self.starts, end)
        return list(range(lo, hi))

    def count_before(self, offset: int) -> int:
        return bisect_left(self.starts, offset)

    def overlaps(self, start: int, end: int) -> bool:
        if self.mask is None:
            size = max((e for _, e in self.spans), default=0)
            self.mask = bytearray(size + 1)
            for s, e in self.spans:
                self.mask[s:e] = b"\x01" * (e - s)
        return any(self.mask[start:end])


def window(items: Sequence[T], lo: int, hi: int) -> Sequence[T]:
    """Items (sorted by ``.start``) whose start lies in [lo, hi)."""
    first = bisect_left(items, lo, key=lambda item: item.start)
    last = bisect_left(items, hi, key=lambda item: item.start)
    return items[first:last]


_WORD_START = re.compile(r"(?<![\w])\w")


def word_starts(text: str) -> list[int]:
    """Offsets where a word begins."""
    return [m.start() for m in _WORD_START.finditer(text)]


def scan(
    pattern: re.Pattern[str], text: str, starts: list[int], begin: int = 0
) -> list[re.Match[str]]:
    """Like ``finditer`` for patterns that begin at a word, but tried only at word starts.

    Trying a large alternation at every character is most of the cost of a regex pass; word
    starts are a fifth of the positions, and the matches are the same for such patterns.
    """
    out: list[re.Match[str]] = []
    last_end = begin
    for pos in starts[bisect_left(starts, begin) :]:
        if pos < last_end:
            continue
        m = pattern.match(text, pos)
        if m is not None and m.end() > m.start():
            out.append(m)
            last_end = m.end()
    return out


class Occupied:
    """Characters already claimed by a match, so later patterns skip overlapping ones."""

    def __init__(self, size: int) -> None:
        self.mask = bytearray(size + 1)

    def overlaps(self, start: int, end: int) -> bool:
        return any(self.mask[start:end])

    def add(self, start: int, end: int) -> None:
        self.mask[start:end] = b"\x01" * (end - start)
