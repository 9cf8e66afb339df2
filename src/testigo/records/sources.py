"""Sources: the article, statement, witness account, video or court record facts come from.

A source's original bytes and its extracted text are both vault items, ingested and ledgered; the
source row ties them to the incident with what is known about where they came from.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.db.models import IncidentItem
from testigo.extract.agencies import normalize_agency
from testigo.extract.model import ArticleExtraction
from testigo.records.journal import Journal
from testigo.records.models import Source
from testigo.records.vocab import SourceKind
from testigo.vault import ledger

_STATEMENT = re.compile(
    r"\b(?:press\s+release|news\s+release|statement\s+(?:from|by|of|on)|official\s+statement|"
    r"media\s+statement|for\s+immediate\s+release|comunicado)\b",
    re.IGNORECASE,
)


def detect_kind(extraction: ArticleExtraction, url: str | None) -> SourceKind:
    """An official statement when the page says so or comes from a government site."""
    head = "\n".join(extraction.text.splitlines()[:3])
    host = (urlparse(url).hostname or "") if url else ""
    if host.endswith((".gov", ".mil")) or _STATEMENT.search(head):
        return SourceKind.OFFICIAL_STATEMENT
    if extraction.outlet and normalize_agency(extraction.outlet) is not None:
        return SourceKind.OFFICIAL_STATEMENT
    return SourceKind.ARTICLE


def add_source(
    session: Session,
    journal: Journal,
    *,
    incident_id: int,
    kind: SourceKind,
    extraction: ArticleExtraction,
    item_id: int,
    text_item_id: int,
    hashes: dict[int, str],
    url: str | None,
    fetched_at: str | None,
    details: dict[str, Any],
    new_incident: bool = False,
) -> Source:
    """Add a source and attach its items to the incident (``new_incident``: created in this
    transaction, so nothing is attached to it yet and there is nothing to look up)."""
    published = extraction.published
    source = Source(
        incident_id=incident_id,
        kind=kind.value,
        title=(extraction.title or None) and (extraction.title or "")[:500],
        outlet=(extraction.outlet or None) and (extraction.outlet or "")[:200],
        author="; ".join(extraction.byline)[:500] or None,
        url=url,
        published=published.value if published else None,
        published_precision=published.precision if published else None,
        language=extraction.language,
        item_id=item_id,
        text_item_id=text_item_id,
        fetched_at=fetched_at,
        details=details,
        created_at=ledger.utc_now(),
        created_by=journal.actor,
    )
    journal.add(session, source)
    journal.flush(session)
    journal.note(
        "source.create",
        [f"incident:{incident_id}", f"source:{source.id}"],
        {
            "kind": source.kind,
            "title": source.title,
            "outlet": source.outlet,
            "author": source.author,
            "url": url,
            "published": source.published,
            "fetched_at": fetched_at,
            "item": item_id,
            "text_item": text_item_id,
        },
    )
    attached: set[int] = set()
    if not new_incident:
        attached = set(
            session.scalars(
                select(IncidentItem.item_id).where(
                    IncidentItem.incident_id == incident_id,
                    IncidentItem.item_id.in_([item_id, text_item_id]),
                )
            )
        )
    for attach in (item_id, text_item_id):
        if attach not in attached:
            attached.add(attach)
            session.add(
                IncidentItem(incident_id=incident_id, item_id=attach, added_at=ledger.utc_now())
            )
            journal.note(
                "incident.attach",
                [f"incident:{incident_id}", f"sha256:{hashes[attach]}"],
                {"item": attach, "sha256": hashes[attach], "via": f"source:{source.id}"},
            )
    return source


def source_dict(source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "kind": source.kind,
        "title": source.title,
        "outlet": source.outlet,
        "author": source.author,
        "url": source.url,
        "published": source.published,
        "language": source.language,
        "item": source.item_id,
        "text_item": source.text_item_id,
        "fetched_at": source.fetched_at,
        "created_at": source.created_at,
    }
