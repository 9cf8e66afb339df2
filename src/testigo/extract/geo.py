"""Places named in the text and the place of the encounter.

The encounter's city is scored from the evidence: a dateline ("SPRINGFIELD —"), a "City, State"
pair, a "<City> police" department, how often and how early the city is named. Mentions in
sentences about other, earlier incidents ("last month in ...") count against a city. The state is
filled only when the text itself names it (the resolved state is still given as ``admin1``).
"""

from __future__ import annotations

import re
from collections import defaultdict

from testigo.extract.model import AgencyMention, Location, PlaceMention
from testigo.extract.places import (
    AP_STATE_ABBREVIATIONS,
    SPANISH_STATE_NAMES,
    US_STATE_NAMES,
    US_STATES,
    city_candidates,
    country_code,
    fold,
    resolve_place,
    state_code,
)
from testigo.extract.text import Document, SpanIndex, name_runs

_DATELINE = re.compile(
    r"^(?P<city>[A-ZÁÉÍÓÚÑ][A-ZÁÉÍÓÚÑ .'\-]{2,40}?)(?:,\s*(?P<state>[A-Z][\w.]{1,20}(?:\s[A-Z][\w.]+)?))?"  # noqa: E501
    r"\s*(?:\([^)\n]{1,30}\))?\s*[—–-]"
)
_STATE_ALT = "|".join(
    re.escape(s)
    for s in sorted(
        [*US_STATE_NAMES, *AP_STATE_ABBREVIATIONS, *SPANISH_STATE_NAMES], key=len, reverse=True
    )
)
_STATE_RE = re.compile(r"\b(?:" + _STATE_ALT + r")(?![\w])")
_DISTRACTOR = re.compile(
    r"\b(?:last\s+(?:month|year|week)|earlier\s+this|previous|another\s+(?:incident|case|arrest)|"
    r"similar|el\s+mes\s+pasado|el\s+año\s+pasado)\b",
    re.IGNORECASE,
)
_FACILITY = re.compile(
    r"\b(?:[A-Z][\w'’.\-]*\s+){1,5}(?:Street|Avenue|Road|Boulevard|Detention\s+Center|Processing\s+Center|"
    r"Jail|Courthouse|Church|High\s+School|School|Hospital|Airport|Park)\b"
)
_US_AGENCY_KINDS = frozenset(
    {
        "federal_agency",
        "federal_component",
        "federal_department",
        "police_department",
        "sheriff",
        "state_police",
    }
)


def _city_mentions(doc: Document, exclude: SpanIndex) -> list[tuple[str, int, int]]:
    text = doc.text
    out: list[tuple[str, int, int]] = []
    for s, e in name_runs(text):
        tokens = [(m.group(0), s + m.start()) for m in re.finditer(r"\S+", text[s:e])]
        i = 0
        while i < len(tokens):
            found = False
            for n in (3, 2, 1):
                if i + n > len(tokens):
                    continue
                words = [re.sub(r"['’]s$", "", t[0]) for t in tokens[i : i + n]]
                name = " ".join(words)
                start = tokens[i][1]
                end = tokens[i + n - 1][1] + len(words[-1])
                if exclude.overlaps(start, end):
                    continue
                rows = city_candidates(name)
                if (
                    rows
                    and any(r.get("countrycode") == "US" for r in rows)
                    and name not in US_STATE_NAMES
                ):
                    sentence = doc.sentence_at(start)
                    if (
                        n == 1
                        and sentence is not None
                        and sentence.start == start
                        and start >= doc.header.body_start
                    ):
                        continue
                    out.append((name, start, end))
                    i += n
                    found = True
                    break
            if not found:
                i += 1
    return out


def find_places(
    doc: Document, agencies: list[AgencyMention], people_spans: list[tuple[int, int]]
) -> tuple[Location, list[PlaceMention]]:
    text = doc.text
    places: list[PlaceMention] = []
    states_named: dict[str, int] = {}
    for m in _STATE_RE.finditer(text):
        code = state_code(m.group(0))
        if code is None or re.match(r"\s+City\b", text[m.end() : m.end() + 6]):
            continue  # "New York City", "Oklahoma City": a city, not the state
        if m.group(0) in AP_STATE_ABBREVIATIONS and not re.search(
            r",\s*$", text[max(0, m.start() - 3) : m.start()]
        ):
            continue
        states_named.setdefault(code, m.start())
        places.append(
            PlaceMention(
                US_STATES.get(code, m.group(0)),
                "state",
                m.start(),
                m.end(),
                admin1=US_STATES.get(code),
                country_code="US",
            )
        )
    agency_spans = [
        (a.start, a.end) for a in agencies if a.kind not in ("police_department", "sheriff")
    ]
    cities = _city_mentions(doc, SpanIndex(agency_spans + people_spans))
    scores: dict[str, float] = defaultdict(float)
    pair_state: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    distractor: dict[int, bool] = {}
    for name, start, end in cities:
        first_seen.setdefault(name, start)
        scores[name] += 1.0
        sentence = doc.sentence_at(start)
        if sentence is not None:
            if sentence.start not in distractor:
                distractor[sentence.start] = bool(_DISTRACTOR.search(sentence.text[:2000]))
            if distractor[sentence.start]:
                scores[name] -= 3.0
        if re.search(r"\b(?:in|en|of|de)\s+$", text[max(0, start - 4) : start]):
            scores[name] += 0.5
        pair = re.match(r",\s*(" + _STATE_ALT + r")(?![\w])", text[end : end + 30])
        if pair:
            code = state_code(pair.group(1))
            if code and resolve_place(name, code):
                scores[name] += 3.0
                pair_state.setdefault(name, code)
    body = text[doc.header.body_start : doc.header.body_start + 200]
    dl = _DATELINE.match(body)
    if dl:
        city = dl.group("city").strip().title()
        if city_candidates(city):
            scores[city] += 5.0
            first_seen.setdefault(city, doc.header.body_start)
            st = state_code(dl.group("state")) if dl.group("state") else None
            if st and resolve_place(city, st):
                pair_state.setdefault(city, st)
    for a in agencies:
        if a.kind == "police_department" and a.name.endswith(" Police Department"):
            city = a.name[: -len(" Police Department")]
            if city_candidates(city):
                scores[city] += 2.0
                first_seen.setdefault(city, a.start)
    state_starts = {p.start for p in places}
    for name, start, end in cities:
        if start not in state_starts:
            place = resolve_place(
                name, US_STATES.get(pair_state.get(name, ""), None) if name in pair_state else None
            )
            places.append(
                PlaceMention(
                    name,
                    "city",
                    start,
                    end,
                    admin1=place.admin1 if place else None,
                    country_code=place.country_code if place else None,
                    latitude=place.latitude if place else None,
                    longitude=place.longitude if place else None,
                )
            )
    for m in _FACILITY.finditer(text, doc.header.body_start):
        places.append(PlaceMention(m.group(0), "facility", m.start(), m.end()))
    for m in re.finditer(
        r"\b(?:Mexico|México|Guatemala|Honduras|El Salvador|Venezuela|Colombia|Cuba|Haiti|Canada)\b",  # noqa: E501
        text,
    ):
        places.append(
            PlaceMention(
                m.group(0), "country", m.start(), m.end(), country_code=country_code(m.group(0))
            )
        )
    places.sort(key=lambda p: p.start)
    location = Location()
    if scores:
        best = max(scores, key=lambda n: (scores[n], -first_seen.get(n, 0)))
        if scores[best] > 0:
            location = _location_for(best, pair_state.get(best), states_named, first_seen.get(best))
    if location.country is None and any(a.kind in _US_AGENCY_KINDS for a in agencies):
        location.country = "United States"
        location.country_code = "US"
    return location, places


def _location_for(
    city: str, paired: str | None, states_named: dict[str, int], start: int | None
) -> Location:
    place = None
    state_text: str | None = None
    if paired:
        place = resolve_place(city, paired)
        state_text = US_STATES.get(paired)
    if place is None:
        for code in states_named:
            place = resolve_place(city, code)
            if place is not None:
                state_text = US_STATES.get(code)
                break
    if place is None:
        place = resolve_place(city, country="US") or resolve_place(city)
    loc = Location(city=city, state=state_text)
    if start is not None:
        loc.start, loc.end = start, start + len(city)
    if place is not None:
        loc.admin1 = place.admin1
        loc.country_code = place.country_code
        loc.country = place.country
        loc.latitude = place.latitude
        loc.longitude = place.longitude
        if fold(place.name) == fold(city):
            loc.city = place.name
    return loc
