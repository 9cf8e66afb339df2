"""`import_article`: one article in, one incident record updated, all or nothing.

Order of work, and why:

1. extract first, so bad input (empty, binary, oversized, no article in the page) is refused
   before anything is stored;
2. store the original bytes (``store_stream``, method ``article.import``) and the extracted text
   as a derived item (``text.extract``), so every citation points at stored, ledgered text;
3. in ONE transaction: choose or create the incident, create the source, people, organizations,
   places, legal actions, events, quotes and claims, compare claims across sources, and append
   every ledger entry in one batch. A failure there leaves no record rows; the two items stay as
   ordinary evidence, which a later import of the same bytes reuses.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from testigo.db.models import Incident
from testigo.errors import NotFoundError, RefusedInputError
from testigo.extract import extract_article
from testigo.extract.model import ArticleExtraction
from testigo.records.claims import assess
from testigo.records.from_article import ArticleRecorder
from testigo.records.incidents import add_incident, find_joinable
from testigo.records.journal import Journal, begin_records_write
from testigo.records.models import Source
from testigo.records.places import fold
from testigo.records.sources import add_source, detect_kind
from testigo.records.vocab import SourceKind, TimePrecision, check
from testigo.vault.derive import store_derived
from testigo.vault.ingest import Acquired, store_stream
from testigo.vault.service import Vault

TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"
OFFICIAL_ROLES = ("officer", "official", "spokesperson", "journalist", "lawyer", "attorney")


@dataclass
class ImportResult:
    incident_id: int
    incident_created: bool
    joined: bool
    source_id: int
    item_id: int
    text_item_id: int
    sha256: str
    duplicate: bool
    created: dict[str, int] = field(default_factory=dict)
    claims: dict[str, int] = field(default_factory=dict)
    incident_status: str = "reported"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _check_extraction(extraction: ArticleExtraction) -> None:
    if not extraction.text.strip():
        raise RefusedInputError(
            "no article text was found in the input (empty, or a page without an article): "
            "nothing was stored"
        )
    x = extraction
    if not (x.people or x.agencies or x.location.city or x.events or x.subjects):
        raise RefusedInputError(
            "the text names no people, agencies, place or events of an encounter: "
            "nothing was stored"
        )


def _title(x: ArticleExtraction) -> str:
    if x.title and x.title.strip():
        return x.title.strip()[:500]
    where = x.location.city or x.location.state or "an unknown place"
    return f"Encounter in {where}"


def _summary(x: ArticleExtraction) -> str | None:
    if x.events:
        return x.events[0].text[:2000]
    body = x.text.strip().split("\n\n")
    return body[0][:2000] if body else None


def extract_for_import(
    raw: bytes,
    *,
    content_type: str | None = None,
    url: str | None = None,
    filename: str | None = None,
) -> ArticleExtraction:
    """Extract an article and refuse it if there is nothing to record (a pure function: the
    batch import runs it in worker processes)."""
    extraction = extract_article(raw, content_type=content_type, url=url, filename=filename)
    _check_extraction(extraction)
    return extraction


def import_article(
    vault: Vault,
    data: bytes | str,
    *,
    content_type: str | None = None,
    filename: str | None = None,
    url: str | None = None,
    incident_id: int | None = None,
    actor: str,
    fetched_at: str | None = None,
    kind: str | None = None,
) -> ImportResult:
    """Store an article and add what it says to an incident (joined, forced, or new)."""
    source_kind = check(SourceKind, kind, "kind") if kind else None
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    extraction = extract_for_import(raw, content_type=content_type, url=url, filename=filename)
    return store_extracted(
        vault,
        raw,
        extraction,
        content_type=content_type,
        filename=filename,
        url=url,
        incident_id=incident_id,
        actor=actor,
        fetched_at=fetched_at,
        source_kind=source_kind,
    )


def store_extracted(
    vault: Vault,
    raw: bytes,
    extraction: ArticleExtraction,
    *,
    content_type: str | None = None,
    filename: str | None = None,
    url: str | None = None,
    incident_id: int | None = None,
    actor: str,
    fetched_at: str | None = None,
    source_kind: SourceKind | None = None,
) -> ImportResult:
    """Steps 2 and 3 for an article already extracted (and checked) by
    :func:`extract_for_import`, in one transaction."""
    if incident_id is not None:
        with vault.reading() as session:
            if session.get(Incident, incident_id) is None:
                raise NotFoundError(f"there is no incident {incident_id}")
    # One transaction: the original, its text and every fact drawn from it commit together.
    with vault.transaction() as session:
        original = store_stream(
            vault,
            io.BytesIO(raw),
            name=filename,
            acquired=Acquired(actor=actor, method="article.import", acquired_from=url or filename),
            expected_size=len(raw),
            extra_params={"url": url, "fetched_at": fetched_at, "content_type": content_type},
            session=session,
        )
        text = store_derived(
            vault,
            extraction.text.encode("utf-8"),
            parents=[original.item_id],
            derivation="text.extract",
            params={"extractor": "testigo.extract.rule_based", "offsets": "unicode code points"},
            actor=actor,
            media_type=TEXT_MEDIA_TYPE,
            kind="text",
            session=session,
        )
        begin_records_write(session)
        journal = Journal(actor, bulk=True)
        # A new original cannot have a source yet; only a known one is looked up.
        existing = (
            session.scalars(
                select(Source).where(Source.item_id == original.item_id).order_by(Source.id)
            ).first()
            if original.duplicate
            else None
        )
        if (
            existing is not None
            and existing.incident_id is not None
            and (incident_id is None or incident_id == existing.incident_id)
        ):
            incident = session.get(Incident, existing.incident_id)
            return ImportResult(
                incident_id=existing.incident_id,
                incident_created=False,
                joined=False,
                source_id=existing.id,
                item_id=original.item_id,
                text_item_id=text.item_id,
                sha256=original.sha256,
                duplicate=True,
                incident_status=incident.status if incident else "reported",
                warnings=["this article was imported before; nothing new was recorded"],
            )
        date = extraction.incident_date
        date_value = date.value if date and date.value and not date.value.startswith("--") else None
        created = joined = False
        if incident_id is None:
            from testigo.records.places import place_for

            loc = extraction.location
            place = (
                place_for(session, journal, loc.city, loc.state, loc.country) if loc.city else None
            )
            names = [p.name for p in extraction.people if p.role not in OFFICIAL_ROLES]
            incident_id = find_joinable(session, names, place.key if place else None, date_value)
            joined = incident_id is not None
        if incident_id is None:
            loc = extraction.location
            label = ", ".join(p for p in (loc.city, loc.state, loc.country) if p) or None
            precision = None
            if date_value:
                precision = check(
                    TimePrecision, date.precision if date else "day", "precision"
                ).value
            incident = add_incident(
                session,
                journal,
                _title(extraction),
                summary=_summary(extraction),
                start_time=date_value,
                time_precision=precision,
                place_label=label,
                place_precision="city" if loc.city else ("state" if loc.state else None),
            )
            incident_id, created = incident.id, True
        else:
            incident = session.get(Incident, incident_id)
            if incident is None:
                raise NotFoundError(f"there is no incident {incident_id}")
            if incident.start_time is None and date_value:
                journal.note(
                    "incident.edit",
                    [f"incident:{incident_id}"],
                    {"field": "start_time", "from": None, "to": date_value,
                     "reason": "date first given by a joined source"},
                )  # fmt: skip
                incident.start_time = date_value
                incident.time_precision = date.precision if date else None
        source = add_source(
            session,
            journal,
            incident_id=incident_id,
            kind=source_kind or detect_kind(extraction, url),
            extraction=extraction,
            item_id=original.item_id,
            text_item_id=text.item_id,
            hashes={original.item_id: original.sha256, text.item_id: text.sha256},
            url=url,
            fetched_at=fetched_at,
            details={"filename": filename, "content_type": content_type,
                     "warnings": extraction.warnings, "outlet_key": fold(extraction.outlet or "")},
            new_incident=created,
        )  # fmt: skip
        recorder = ArticleRecorder(
            session,
            journal,
            incident_id=incident_id,
            source=source,
            extraction=extraction,
            new_incident=created,
        )
        recorded = recorder.run()
        claims = assess(
            session,
            journal,
            incident_id,
            written=(source, recorder.claim_rows) if created else None,
        )
        journal.append(session)
        return ImportResult(
            incident_id=incident_id,
            incident_created=created,
            joined=joined,
            source_id=source.id,
            item_id=original.item_id,
            text_item_id=text.item_id,
            sha256=original.sha256,
            duplicate=False,
            created={"sources": 1, **recorded.counts()},
            claims=claims,
            incident_status=incident.status,
            warnings=list(extraction.warnings),
        )
