"""Dates in English and Spanish prose, resolved against the publication date.

A weekday ("on Thursday", "el jueves") is the latest such day on or before publication; a month and
day without a year takes the publication year (the year before if that would be in the future);
"five days later" counts from the date mentioned just before it. Each date keeps the precision the
text really gives it: ``exact`` (a time of day on a known day), ``day``, ``month`` or ``year``.
"""

from __future__ import annotations

import datetime as dt
import re

from testigo.extract.model import DateMention
from testigo.extract.text import Document, Occupied

MONTHS: dict[str, int] = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
}
WEEKDAYS: dict[str, int] = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
    "lunes": 0,
    "martes": 1,
    "miércoles": 2,
    "miercoles": 2,
    "jueves": 3,
    "viernes": 4,
    "sábado": 5,
    "sabado": 5,
    "domingo": 6,
}
NUMBER_WORDS: dict[str, int] = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "several": 3,
    "a few": 3,
    "un": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
}

_MONTH = (
    r"(?P<month>January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|Dec\.?)"
)
_MES = (
    r"(?P<mes>enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|"
    r"noviembre|diciembre)"
)
_WEEKDAY = (
    r"(?P<weekday>Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|lunes|martes|"
    r"mi[ée]rcoles|jueves|viernes|s[áa]bado|domingo)"
)
_NUM = r"(?P<n>\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|a few|un|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez)"  # noqa: E501

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(?P<y>(?:19|20)\d{2})-(?P<m>[01]\d)-(?P<d>[0-3]\d)(?:[T ](?P<t>\d{2}:\d{2}))?")),  # noqa: E501
    ("mdy", re.compile(r"\b" + _MONTH + r"\s+(?P<d>[0-3]?\d)(?:st|nd|rd|th)?(?:,?\s+(?P<y>(?:19|20)\d{2}))?\b")),  # noqa: E501
    ("dmy", re.compile(r"\b(?P<d>[0-3]?\d)\s+" + _MONTH + r"(?:,?\s+(?P<y>(?:19|20)\d{2}))?\b")),
    ("es", re.compile(r"\b(?P<d>[0-3]?\d)\s+de\s+" + _MES + r"(?:\s+(?:de|del)\s+(?P<y>(?:19|20)\d{2}))?\b", re.I)),  # noqa: E501
    ("es_month", re.compile(r"\b(?:en|de)\s+" + _MES + r"(?:\s+(?:de|del)\s+(?P<y>(?:19|20)\d{2}))?\b", re.I)),  # noqa: E501
    ("month_year", re.compile(r"\b" + _MONTH + r",?\s+(?P<y>(?:19|20)\d{2})\b")),
    ("slash", re.compile(r"\b(?P<m>[01]?\d)/(?P<d>[0-3]?\d)/(?P<y>(?:19|20)\d{2})\b")),
    ("year", re.compile(r"\b(?:in|since|by|until|en|desde|de)\s+(?P<y>(?:19|20)\d{2})\b", re.I)),
    ("later", re.compile(r"\b" + _NUM + r"\s+(?P<unit>days?|weeks?|months?|years?)\s+(?P<dir>later|after|earlier|before|ago)\b", re.I)),  # noqa: E501
    ("hace", re.compile(r"\bhace\s+" + _NUM + r"\s+(?P<unit>d[íi]as?|semanas?|meses|mes|años?)\b", re.I)),  # noqa: E501
    ("relday", re.compile(r"\b(?P<rel>yesterday|today|tonight|ayer|hoy|anteayer)\b", re.I)),
    ("weekday", re.compile(r"\b(?P<last>last\s+|this\s+past\s+|el\s+pasado\s+)?" + _WEEKDAY + r"(?P<pasado>\s+pasado)?\b")),  # noqa: E501
    ("lastmonth", re.compile(r"\b(?P<rel>last\s+month|last\s+year|el\s+mes\s+pasado|el\s+año\s+pasado)\b", re.I)),  # noqa: E501
]  # fmt: skip

TRIGGERS: dict[str, tuple[str, ...]] = {
    "iso": ("-",),
    "es": (" de ",),
    "es_month": ("en ", "de "),
    "slash": ("/",),
    "later": ("later", "after", "earlier", "before", "ago"),
    "hace": ("hace",),
    "relday": ("yesterday", "today", "tonight", "ayer", "hoy"),
    "lastmonth": ("last", "pasado"),
}
_TIME = re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:a\.m\.|p\.m\.|am|pm)", re.IGNORECASE)


def _month(name: str) -> int:
    return MONTHS[name.lower().rstrip(".")]


def _safe_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _count(raw: str) -> int:
    raw = raw.lower()
    return int(raw) if raw.isdigit() else NUMBER_WORDS.get(raw, 1)


def _shift(value: str, precision: str, days: int, unit: str) -> str:
    unit = unit.lower()
    if unit.startswith(("week", "seman")):
        days *= 7
    if unit.startswith(("month", "mes")):
        days *= 30
    if unit.startswith(("year", "año", "ano")):
        days *= 365
    if precision in ("day", "exact"):
        return (dt.date.fromisoformat(value[:10]) + dt.timedelta(days=days)).isoformat()
    if precision == "year" and unit.startswith(("year", "año")):
        return str(int(value[:4]) + days // 365)
    return value


def parse_date_line(line: str) -> DateMention | None:
    """The publication date from a header line ("May 13, 2025", "Published 2025-11-07 10:32")."""
    for kind, pattern in PATTERNS[:5]:
        m = pattern.search(line)
        if m and m.groupdict().get("y"):
            mention = _absolute(kind, m, None)
            if mention is not None:
                if _TIME.search(line) or (kind == "iso" and m.group("t")):
                    mention.precision = "exact"
                return mention
    return None


def _absolute(kind: str, m: re.Match[str], published: dt.date | None) -> DateMention | None:
    g = m.groupdict()
    year = int(g["y"]) if g.get("y") else None
    text = m.group(0)
    if kind in ("iso", "slash"):
        assert year is not None
        day = _safe_date(year, int(g["m"]), int(g["d"]))
        return DateMention(text, m.start(), m.end(), day.isoformat(), "day") if day else None
    if kind in ("mdy", "dmy", "es"):
        month = _month(g.get("month") or g.get("mes") or "")
        d = int(g["d"])
        anchor = "text"
        if year is None:
            if published is None:
                if not 1 <= d <= 31:
                    return None
                return DateMention(
                    text, m.start(), m.end(), f"--{month:02d}-{d:02d}", "day", anchor="none"
                )
            year = published.year
            candidate = _safe_date(year, month, d)
            if candidate and candidate > published + dt.timedelta(days=1):
                year -= 1
            anchor = "published"
        day = _safe_date(year, month, d)
        return (
            DateMention(text, m.start(), m.end(), day.isoformat(), "day", anchor=anchor)
            if day
            else None
        )
    if kind in ("es_month", "month_year"):
        month = _month(g.get("month") or g.get("mes") or "")
        if year is None:
            if published is None:
                return None
            year = published.year if month <= published.month else published.year - 1
        return DateMention(text, m.start(), m.end(), f"{year}-{month:02d}", "month")
    if kind == "year":
        assert year is not None
        return DateMention(text, m.start(), m.end(), str(year), "year")
    return None


def find_dates(doc: Document, published: dt.date | None) -> list[DateMention]:
    """Every date in the body, in text order, resolved as far as the text allows."""
    text = doc.text
    found: list[tuple[int, int, str, re.Match[str]]] = []
    taken = Occupied(len(text))
    low = text.lower()
    for kind, pattern in PATTERNS:
        if not any(word in low for word in TRIGGERS.get(kind, ("",))):
            continue  # cheap substring test before the regex pass
        matches = (
            doc.scan(pattern) if kind == "later" else pattern.finditer(text, doc.header.body_start)
        )
        for m in matches:
            if taken.overlaps(m.start(), m.end()):
                continue
            if kind == "weekday" and m.group("weekday")[0].islower() and doc.language != "es":
                continue
            taken.add(m.start(), m.end())
            found.append((m.start(), m.end(), kind, m))
    found.sort()
    out: list[DateMention] = []
    previous: DateMention | None = None
    for _, _, kind, m in found:
        mention = _resolve(kind, m, published, previous)
        if mention is None:
            continue
        out.append(mention)
        if mention.value and not mention.value.startswith("--"):
            previous = mention
    return out


def _resolve(
    kind: str, m: re.Match[str], published: dt.date | None, previous: DateMention | None
) -> DateMention | None:
    g = m.groupdict()
    text = m.group(0)
    if kind in ("iso", "mdy", "dmy", "es", "es_month", "month_year", "slash", "year"):
        return _absolute(kind, m, published)
    if kind == "weekday":
        if published is None:
            return DateMention(text, m.start(), m.end(), None, "day", anchor="none")
        target = WEEKDAYS[g["weekday"].lower()]
        back = (published.weekday() - target) % 7
        if back == 0 and (g.get("last") or g.get("pasado")):
            back = 7
        value = (published - dt.timedelta(days=back)).isoformat()
        return DateMention(text, m.start(), m.end(), value, "day", anchor="published")
    if kind == "relday":
        rel = g["rel"].lower()
        back = {"yesterday": 1, "ayer": 1, "anteayer": 2}.get(rel, 0)
        if published is None:
            return DateMention(text, m.start(), m.end(), None, "day", anchor="none")
        value = (published - dt.timedelta(days=back)).isoformat()
        return DateMention(text, m.start(), m.end(), value, "day", anchor="published")
    if kind == "lastmonth":
        if published is None:
            return DateMention(text, m.start(), m.end(), None, "month", anchor="none")
        rel = g["rel"].lower()
        if "month" in rel or "mes" in rel:
            first = published.replace(day=1) - dt.timedelta(days=1)
            return DateMention(
                text,
                m.start(),
                m.end(),
                f"{first.year}-{first.month:02d}",
                "month",
                anchor="published",
            )
        return DateMention(
            text, m.start(), m.end(), str(published.year - 1), "year", anchor="published"
        )
    if kind in ("later", "hace"):
        n = _count(g["n"])
        direction = (g.get("dir") or "ago").lower()
        unit = g["unit"]
        if direction in ("ago",) or kind == "hace":
            if published is None:
                return DateMention(text, m.start(), m.end(), None, "day", anchor="none")
            value = _shift(published.isoformat(), "day", -n, unit)
            return DateMention(text, m.start(), m.end(), value, "day", anchor="published")
        if previous is None or previous.value is None:
            return DateMention(text, m.start(), m.end(), None, "day", anchor="none")
        sign = 1 if direction in ("later", "after") else -1
        value = _shift(previous.value, previous.precision, sign * n, unit)
        return DateMention(text, m.start(), m.end(), value, previous.precision, anchor="previous")
    return None


def choose_incident_date(dates: list[DateMention], published: dt.date | None) -> DateMention | None:
    """The encounter's date: the earliest day-precise date in the weeks before publication.

    Statements, interviews and follow-ups come after the encounter, so the earliest recent date
    is the best single guess; dates further back (a removal order "in 2011") are history.
    """
    if published is None:
        return None
    best: DateMention | None = None
    for d in dates:
        if d.precision not in ("day", "exact") or not d.value or d.value.startswith("--"):
            continue
        if d.anchor == "previous":
            continue
        day = dt.date.fromisoformat(d.value[:10])
        if not (published - dt.timedelta(days=21) <= day <= published):
            continue
        if best is None or day < dt.date.fromisoformat(str(best.value)[:10]):
            best = d
    if best is None:
        return None
    return DateMention(
        best.text, best.start, best.end, best.value, best.precision, "incident", best.anchor
    )
