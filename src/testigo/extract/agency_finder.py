"""Finding agency mentions in text and mapping each to the vocabulary in :mod:`agencies`."""

from __future__ import annotations

import re
from functools import lru_cache

from testigo.extract.agencies import (
    AGENCIES,
    Agency,
    city_police,
    county_sheriff,
    normalize_agency,
    state_police,
)
from testigo.extract.model import AgencyMention
from testigo.extract.places import US_STATE_NAMES, _gc, fold, is_known_city
from testigo.extract.text import scan, word_starts

_CAP = r"[A-ZÁÉÍÓÚÑ][\w'’\-]*\.?"
_POLICE = re.compile(
    r"(?P<pre>(?:" + _CAP + r"[ \t]+){0,3}?" + _CAP + r")[ \t]+(?P<word>Police|police)"
    r"(?:[ \t]+(?P<dept>Department|Dept\.?))?\b"
)
_POLICIA = re.compile(
    r"\b(?:[Dd]epartamento[ \t]+de[ \t]+)?[Pp]olic[íi]a[ \t]+(?:de|del)[ \t]+(?P<city>"
    + _CAP
    + r"(?:[ \t]+"
    + _CAP
    + r"){0,2})"
)
_SHERIFF = re.compile(
    r"(?P<pre>(?:" + _CAP + r"[ \t]+){1,3}?)County[ \t]+[Ss]heriff(?:['’]s)?"
    r"(?:[ \t]+(?P<kind>Office|Department|office|department))?"
)
_STATE_POLICE = re.compile(
    r"(?P<pre>(?:"
    + _CAP
    + r"[ \t]+){1,2}?)(?P<kind>State[ \t]+Police|(?:State[ \t]+)?Highway[ \t]+Patrol|"
    r"State[ \t]+Patrol|Department[ \t]+of[ \t]+(?:Public[ \t]+Safety|Law[ \t]+Enforcement|"
    r"Corrections|Criminal[ \t]+Justice)|Bureau[ \t]+of[ \t]+Investigation|"
    r"Attorney[ \t]+General['’]s[ \t]+Office)\b"
)
_PD_ABBR = re.compile(r"\b[A-Z]{1,4}PD\b")
_LEADING = frozenset(
    [
        "the",
        "a",
        "an",
        "after",
        "before",
        "when",
        "while",
        "with",
        "by",
        "in",
        "at",
        "from",
        "for",
        "to",
        "of",
        "on",
        "as",
        "both",
        "local",
        "former",
        "nearby",
        "neighboring",
        "neighbouring",
        "and",
        "or",
        "but",
        "his",
        "her",
        "their",
        "our",
        "its",
        "el",
        "la",
        "los",
        "las",
    ]
)


@lru_cache(maxsize=1)
def _static_patterns() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, Agency]]:
    names: dict[str, Agency] = {}
    wordings: set[str] = set()
    abbreviations: dict[str, Agency] = {}
    for agency in AGENCIES:
        for alias in (agency.name, *agency.aliases):
            bare = alias[5:] if alias.startswith("U.S. ") else alias
            for variant in (alias, bare):
                names[fold(variant)] = agency
                wordings.update({variant.lower(), fold(variant)})
        for abbr in agency.abbreviations:
            abbreviations[abbr] = agency
    name_alt = "|".join(re.escape(n) for n in sorted(wordings, key=len, reverse=True))
    abbr_alt = "|".join(re.escape(a) for a in sorted(abbreviations, key=len, reverse=True))
    name_re = re.compile(r"(?:\bU\.\s?S\.\s+)?\b(?:" + name_alt + r")\b", re.IGNORECASE)
    abbr_re = re.compile(r"\b(?:" + abbr_alt + r")\b")
    table = dict(names)
    table.update({k: v for k, v in abbreviations.items()})
    return name_re, abbr_re, table


@lru_cache(maxsize=1)
def _county_names() -> frozenset[str]:
    return frozenset(fold(str(c["name"]).removesuffix(" County")) for c in _gc().get_us_counties())


def _trim(words: list[str], known: frozenset[str] | None, need_known: bool) -> str | None:
    """Drop leading words until what is left is a known place (or, failing that, a plain name)."""
    for i in range(len(words)):
        candidate = " ".join(words[i:])
        if known is not None and fold(candidate) in known:
            return candidate
        if known is None and is_known_city(candidate):
            return candidate
    if need_known:
        return None
    while words and words[0].lower() in _LEADING:
        words = words[1:]
    return " ".join(words) or None


def _add(out: list[AgencyMention], agency: Agency, text: str, start: int, end: int) -> None:
    out.append(AgencyMention(agency.name, text[start:end], start, end, agency.kind, agency.parent))


def find_agencies(text: str, start: int = 0) -> list[AgencyMention]:
    """Every agency mention, each mapped to one organisation, in text order."""
    out: list[AgencyMention] = []
    name_re, abbr_re, table = _static_patterns()
    starts = word_starts(text)
    for m in scan(name_re, text, starts, start):
        word = re.sub(r"^U\.\s?S\.\s+", "", m.group(0))
        agency = table.get(fold(word))
        if agency is not None:
            _add(out, agency, text, m.start(), m.end())
    for m in scan(abbr_re, text, starts, start):
        _add(out, table[m.group(0)], text, m.start(), m.end())
    police_by_abbr: dict[str, Agency] = {}
    for m in _POLICE.finditer(text, start):
        words = m.group("pre").split()
        if words and words[-1] in ("State", "Capitol", "Military", "Border", "Transit", "Tribal"):
            continue
        explicit = bool(m.group("dept")) or m.group("word") == "Police"
        city = _trim(words, None, need_known=not explicit)
        if not city or fold(city) in _LEADING or city.lower() in ("state", "capitol"):
            continue
        agency = normalize_agency(f"{city} Police Department")
        if agency is None:
            continue
        begin = m.start("pre") + m.group("pre").rfind(city)
        _add(out, agency, text, begin, m.end())
        for abbr in agency.abbreviations:
            police_by_abbr[abbr] = agency
    for m in _POLICIA.finditer(text, start):
        words = m.group("city").split()
        city = _trim(words, None, need_known=True) or (words[0] if words else None)
        if city:
            agency = city_police(city)
            _add(
                out,
                agency,
                text,
                m.start(),
                m.start("city") + m.group("city").find(city) + len(city),
            )
    for m in _SHERIFF.finditer(text, start):
        county = _trim(m.group("pre").split(), _county_names(), need_known=False)
        if not county:
            continue
        kind = (m.group("kind") or "Office").title()
        agency = county_sheriff(county, f"Sheriff's {kind}")
        begin = m.start("pre") + m.group("pre").rfind(county)
        _add(out, agency, text, begin, m.end())
    for m in _STATE_POLICE.finditer(text, start):
        state = _trim(m.group("pre").split(), frozenset(fold(s) for s in US_STATE_NAMES), True)
        if state:
            state_name = next(s for s in US_STATE_NAMES if fold(s) == fold(state))
            agency = state_police(state_name, " ".join(m.group("kind").split()))
            begin = m.start("pre") + m.group("pre").rfind(state)
            _add(out, agency, text, begin, m.end())
    for m in _PD_ABBR.finditer(text, start):
        agency = police_by_abbr.get(m.group(0))
        if agency is not None:
            _add(out, agency, text, m.start(), m.end())
    out.sort(key=lambda a: (a.start, -a.end))
    kept: list[AgencyMention] = []
    for mention in out:
        if kept and mention.start < kept[-1].end:
            continue
        kept.append(mention)
    return kept
