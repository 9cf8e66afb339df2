"""Quotes and fact claims of one article: the part of the record that is compared across sources."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from testigo.extract.model import ArticleExtraction
from testigo.records.claims import ClaimDraft, quote_claim
from testigo.records.legal import sentence_bounds
from testigo.records.models import Quote
from testigo.records.people import find_named
from testigo.records.vocab import QuoteMode

if TYPE_CHECKING:
    from testigo.records.from_article import ArticleRecorder

_DIGITS = re.compile(r"\d[\d,.]*")


def number_in(text: str | None) -> float | None:
    if not text:
        return None
    m = _DIGITS.search(text)
    if not m:
        return None
    try:
        return float(m.group(0).replace(",", "").rstrip("."))
    except ValueError:
        return None


def record_quotes(rec: ArticleRecorder) -> dict[int, int]:
    """Store every quote with its speaker; quotes that affirm or deny something become claims.

    Returns the quote id for each quote index, for the claims that cite a quote.
    """
    rows: list[Quote] = []
    text = rec.x.text
    for n, q in enumerate(rec.x.quotes):
        person = find_named(rec.people, q.speaker) if q.speaker else None
        try:
            mode = QuoteMode(q.kind)
        except ValueError:
            mode = QuoteMode.DIRECT
        row = Quote(
            incident_id=rec.incident_id,
            source_id=rec.source.id,
            person_id=person.id if person else None,
            speaker=q.speaker[:300] if q.speaker else None,
            organization_id=rec.org(q.affiliation),
            affiliation=q.affiliation,
            text=q.text,
            mode=mode.value,
        )
        citation = rec.cite.span(q.start, q.end)
        citation.apply(row)
        rows.append(row)
        rec.journal.later(
            lambda row=row, citation=citation: (  # type: ignore[misc]
                "quote.create",
                [f"incident:{rec.incident_id}", f"quote:{row.id}", f"source:{rec.source.id}"]
                + ([f"person:{row.person_id}"] if row.person_id else []),
                {
                    "speaker": row.speaker,
                    "affiliation": row.affiliation,
                    "text": row.text,
                    "mode": row.mode,
                    "citation": citation.to_dict(),
                },
            )
        )
        start, end = sentence_bounds(text, q.start, q.end)
        speaker = q.speaker or q.affiliation or "unnamed speaker"
        draft = quote_claim(q.text, text[start:end], start=q.start, end=q.end, speaker=speaker)
        if draft is not None:
            draft.quote_index = n
            draft.organization_id = row.organization_id
            rec.claims.append(draft)
    for row in rows:
        rec.journal.add(rec.session, row)
    if rows:
        rec.journal.flush(rec.session)
    rec.out.add("quotes", len(rows))
    return {n: row.id for n, row in enumerate(rows)}


def fact_claims(x: ArticleExtraction) -> list[ClaimDraft]:
    """The article's own narration as claims: date, force, injuries, the recording."""
    out: list[ClaimDraft] = []
    if x.incident_date and x.incident_date.value:
        d = x.incident_date
        out.append(ClaimDraft("incident_date", d.value, d.start, d.end))
    if x.use_of_force is not None:
        ev = x.use_of_force_evidence[0] if x.use_of_force_evidence else None
        start, end = (ev.start, ev.end) if ev else (None, None)
        out.append(ClaimDraft("use_of_force", x.use_of_force, start, end))
    if x.injuries:
        out.append(ClaimDraft("injury", True, x.injuries[0].start, x.injuries[0].end))
    for m in x.media[:1]:
        out.append(ClaimDraft("media.kind", m.kind, m.start, m.end))
        if m.platform:
            out.append(ClaimDraft("media.platform", m.platform, m.start, m.end))
        views = number_in(m.views)
        if views is not None:
            out.append(ClaimDraft("media.views", views, m.start, m.end))
        minutes = number_in(m.duration)
        if minutes is not None and m.duration and "minute" in m.duration:
            out.append(ClaimDraft("media.duration_minutes", minutes, m.start, m.end))
    return out
