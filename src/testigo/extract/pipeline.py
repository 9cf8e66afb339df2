"""The rule-based extractor: the default :class:`~testigo.extract.model.Extractor`."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlparse

from testigo.extract.agency_finder import find_agencies
from testigo.extract.dates import choose_incident_date, find_dates, parse_date_line
from testigo.extract.decode import PreparedText, prepare
from testigo.extract.facts import (
    detention_facility,
    events,
    injuries,
    legal,
    media,
    numbers,
    subjects,
    use_of_force,
)
from testigo.extract.geo import find_places
from testigo.extract.model import ArticleExtraction, DateMention, SourceDocument, Subject
from testigo.extract.people import find_people
from testigo.extract.quotes import find_quotes, find_reported_speech
from testigo.extract.text import parse

WIRE_SERVICES = {
    "AP": "The Associated Press",
    "Reuters": "Reuters",
    "AFP": "Agence France-Presse",
    "EFE": "EFE",
    "UPI": "United Press International",
    "CNN": "CNN",
}
_WIRE = re.compile(r"\((AP|Reuters|AFP|EFE|UPI|CNN)\)\s*[—–-]")


class RuleBasedExtractor:
    """Offline, deterministic extraction from patterns and vocabularies; no model needed."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes

    def extract(self, doc: SourceDocument) -> ArticleExtraction:
        prepared = prepare(
            doc.data,
            content_type=doc.content_type,
            url=doc.url,
            filename=doc.filename,
            max_bytes=self.max_bytes,
        )
        return extract_prepared(prepared)


def _published(
    prepared: PreparedText, date_line: str | None, span: tuple[int, int] | None
) -> DateMention | None:
    if prepared.date:
        m = re.match(r"(\d{4})-(\d{2})-(\d{2})", prepared.date)
        if m:
            return DateMention(
                prepared.date, None, None, m.group(0), "day", "published", "metadata"
            )
    if date_line and span:
        mention = parse_date_line(date_line)
        if mention is not None and mention.start is not None and mention.end is not None:
            mention.start += span[0]
            mention.end += span[0]
            mention.role = "published"
            mention.anchor = "text"
            return mention
    return None


def _outlet(prepared: PreparedText, text: str) -> str | None:
    if prepared.outlet:
        return prepared.outlet
    wire = _WIRE.search(text[:3000])
    if wire:
        return WIRE_SERVICES[wire.group(1)]
    if prepared.url:
        host = urlparse(prepared.url).hostname or ""
        return host.removeprefix("www.") or None
    return None


def extract_prepared(prepared: PreparedText) -> ArticleExtraction:
    """Run every rule over text that has already been decoded and checked."""
    text = prepared.text
    result = ArticleExtraction(text=text, url=prepared.url)
    if not text.strip():
        result.warnings.append(
            "no article text found" + (" in the HTML page" if prepared.is_html else "")
        )
        result.title = prepared.title
        return result
    doc = parse(text)
    result.language = doc.language
    result.title = prepared.title or doc.header.title
    result.outlet = _outlet(prepared, text)
    if prepared.author:
        result.byline = [a.strip() for a in re.split(r";|,| and ", prepared.author) if a.strip()]
    else:
        result.byline = doc.header.byline
    published = _published(prepared, doc.header.date_line, doc.header.date_span)
    result.published = published
    published_day = (
        dt.date.fromisoformat(published.value[:10]) if published and published.value else None
    )
    result.dates = find_dates(doc, published_day)
    if published_day is None:
        result.warnings.append("no publication date: relative dates are left unresolved")
    result.incident_date = choose_incident_date(result.dates, published_day)
    agencies = find_agencies(text, doc.header.body_start)
    result.agency_mentions = agencies
    seen: list[str] = []
    for a in agencies:
        if a.name not in seen:
            seen.append(a.name)
    result.agencies = seen
    result.people = find_people(doc, agencies)
    quotes = find_quotes(doc, result.people, agencies)
    reported = find_reported_speech(doc, result.people, agencies, quotes)
    result.quotes = sorted([*quotes, *reported], key=lambda q: q.start)
    people_spans = [(m.start, m.end) for p in result.people for m in p.mentions]
    result.location, result.places = find_places(doc, agencies, people_spans)
    result.use_of_force, result.use_of_force_evidence = use_of_force(doc)
    result.injuries = injuries(doc)
    result.detention_facility = detention_facility(doc)
    result.legal = legal(doc)
    result.media = media(doc)
    result.numbers = numbers(
        doc, [(d.start, d.end) for d in result.dates if d.start is not None and d.end is not None]
    )
    result.events = events(doc)
    named = [
        Subject(p.name, p.start, p.end, name=p.name, age=p.age, role=p.role)
        for p in result.people
        if p.role in ("arrested", "detained", "family", "witness")
    ]
    result.subjects = sorted([*named, *subjects(doc)], key=lambda s: s.start)
    if not result.agencies:
        result.warnings.append("no agency named")
    if result.location.city is None:
        result.warnings.append("place of the encounter not found")
    return result


def extract_article(
    data: bytes | str,
    *,
    content_type: str | None = None,
    url: str | None = None,
    filename: str | None = None,
    max_bytes: int | None = None,
) -> ArticleExtraction:
    """Extract facts from an article (HTML or plain text) with the default rule-based extractor.

    Raises :class:`~testigo.errors.RefusedInputError` for binary data or text over the size limit.
    """
    doc = SourceDocument(data=data, content_type=content_type, url=url, filename=filename)
    return RuleBasedExtractor(max_bytes=max_bytes).extract(doc)
