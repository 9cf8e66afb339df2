"""Everything the incident page shows, as one JSON-ready dict (the page and its JSON twin).

Each timeline event, person, place, legal action, quote and claim carries its citation; where the
citation is a span of a source's text, the exact words are included, and where it is a time range
of a recording, the link jumps to that second.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from testigo.db.models import Acquisition, EvidenceItem, Incident, IncidentItem
from testigo.records.models import (
    Claim,
    Event,
    IncidentOrganization,
    IncidentPlace,
    LegalAction,
    Organization,
    Person,
    PersonRole,
    Place,
    Quote,
    Source,
)
from testigo.vault.service import Vault
from testigo.web.access import is_restricted
from testigo.web.accounts import Principal

MAX_TEXT = 2_000_000
CONTEXT = 160


class _Texts:
    """Source texts, read from the vault at most once per page."""

    def __init__(self, vault: Vault, session: Session) -> None:
        self.vault = vault
        self.session = session
        self.cache: dict[int, str | None] = {}
        self.sources: dict[int, Source] = {}

    def text_of(self, source_id: int | None) -> str | None:
        if source_id is None:
            return None
        if source_id not in self.cache:
            source = self.sources.get(source_id) or self.session.get(Source, source_id)
            self.cache[source_id] = self._read(source.text_item_id if source else None)
        return self.cache[source_id]

    def _read(self, item_id: int | None) -> str | None:
        if item_id is None:
            return None
        item = self.session.get(EvidenceItem, item_id)
        if item is None:
            return None
        try:
            with self.vault.blobs.open(item.sha256) as stream:
                return stream.read(MAX_TEXT).decode("utf-8", "replace")
        except (KeyError, OSError):
            return None


def citation(row: Any, texts: _Texts) -> dict[str, Any] | None:
    """A citation with the quoted words and some context around them, or a media time range."""
    source_id = row.cite_source_id
    item_id = row.cite_item_id
    if source_id is None and item_id is None:
        return None
    data: dict[str, Any] = {"source": source_id, "item": item_id}
    if row.cite_start is not None and row.cite_end is not None:
        data["start"], data["end"] = row.cite_start, row.cite_end
        text = texts.text_of(source_id)
        if text is not None:
            start, end = row.cite_start, row.cite_end
            data["words"] = text[start:end]
            data["before"] = text[max(0, start - CONTEXT) : start]
            data["after"] = text[end : end + CONTEXT]
    if row.cite_media_start is not None:
        data["media_start"] = row.cite_media_start
        data["media_end"] = row.cite_media_end
        if item_id is not None:
            data["media_link"] = f"/items/{item_id}/view#t={int(row.cite_media_start)}"
    return data


def _clock(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    total = int(seconds)
    return f"{total // 3600:d}:{total // 60 % 60:02d}:{total % 60:02d}"


def _org_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(ids))
    )
    return {i: n for i, n in rows}


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


# Plain rows, not ORM objects: an incident page lists every item, and building mapped objects
# for them cost more than the rest of the page.
ITEM_COLUMNS = (
    EvidenceItem.id,
    EvidenceItem.sha256,
    EvidenceItem.size,
    EvidenceItem.media_type,
    EvidenceItem.kind,
    EvidenceItem.flags,
    EvidenceItem.created_at,
    EvidenceItem.ledger_seq,
)
ACQUISITION_COLUMNS = (
    Acquisition.id,
    Acquisition.item_id,
    Acquisition.original_name,
    Acquisition.acquired_by,
    Acquisition.acquired_at,
    Acquisition.acquired_from,
    Acquisition.method,
    Acquisition.note,
    Acquisition.incident_id,
    Acquisition.ledger_seq,
)
_INCIDENT_ITEMS = (
    select(*ITEM_COLUMNS)
    .join(IncidentItem, IncidentItem.item_id == EvidenceItem.id)
    .where(IncidentItem.incident_id == bindparam("incident"))
    .order_by(EvidenceItem.id)
)
_ITEM_ACQUISITIONS = (
    select(*ACQUISITION_COLUMNS)
    .join(IncidentItem, IncidentItem.item_id == Acquisition.item_id)
    .where(IncidentItem.incident_id == bindparam("incident"))
    .order_by(Acquisition.id)
)


def evidence_items(session: Session, incident_id: int) -> list[dict[str, Any]]:
    items = session.execute(_INCIDENT_ITEMS, {"incident": incident_id}).all()
    acquisitions: dict[int, list[Any]] = defaultdict(list)
    if items:
        for acq in session.execute(_ITEM_ACQUISITIONS, {"incident": incident_id}):
            acquisitions[acq.item_id].append(acq)
    return [item_dict(i, acquisitions.get(i.id, [])) for i in items]


def acquisition_dict(acq: Any) -> dict[str, Any]:
    return {
        "id": acq.id,
        "name": acq.original_name,
        "by": acq.acquired_by,
        "at": acq.acquired_at,
        "from": acq.acquired_from,
        "method": acq.method,
        "note": acq.note,
        "incident": acq.incident_id,
        "ledger_seq": acq.ledger_seq,
    }


def item_dict(item: Any, acquisitions: list[Any]) -> dict[str, Any]:
    first = acquisitions[0] if acquisitions else None
    return {
        "id": item.id,
        "sha256": item.sha256,
        "size": item.size,
        "media_type": item.media_type,
        "kind": item.kind,
        "flags": sorted(k for k, v in (item.flags or {}).items() if v),
        "created_at": item.created_at,
        "ledger_seq": item.ledger_seq,
        "name": first.original_name if first else None,
        "acquisitions": [acquisition_dict(a) for a in acquisitions],
    }


RECORD_TABLES = (
    "sources",
    "events",
    "incident_organizations",
    "incident_places",
    "person_roles",
    "legal_actions",
    "quotes",
    "claims",
)
# One cheap query says which parts of the record exist, so a page skips the empty ones.
_PRESENT = text(
    "SELECT "
    + ", ".join(
        f"EXISTS (SELECT 1 FROM {table} WHERE incident_id = :incident)" for table in RECORD_TABLES
    )
)


def present_tables(session: Session, incident_id: int) -> set[str]:
    row = session.execute(_PRESENT, {"incident": incident_id}).one()
    return {table for table, flag in zip(RECORD_TABLES, row, strict=True) if flag}


def incident_detail(
    vault: Vault, session: Session, principal: Principal, incident_id: int
) -> dict[str, Any]:
    incident = session.get(Incident, incident_id)
    assert incident is not None
    texts = _Texts(vault, session)
    present = present_tables(session, incident_id)
    sources = (
        list(
            session.scalars(
                select(Source).where(Source.incident_id == incident_id).order_by(Source.id)
            )
        )
        if "sources" in present
        else []
    )
    texts.sources = {s.id: s for s in sources}
    source_names = {s.id: s.outlet or s.title or f"source {s.id}" for s in sources}

    events = (
        list(
            session.scalars(
                select(Event)
                .where(Event.incident_id == incident_id)
                .order_by(Event.sequence, Event.occurred_on, Event.clock_time, Event.id)
            )
        )
        if "events" in present
        else []
    )
    org_rows = (
        session.execute(
            select(IncidentOrganization, Organization)
            .join(Organization, Organization.id == IncidentOrganization.organization_id)
            .where(IncidentOrganization.incident_id == incident_id)
            .order_by(IncidentOrganization.id)
        ).all()
        if "incident_organizations" in present
        else []
    )
    place_rows = (
        session.execute(
            select(IncidentPlace, Place)
            .join(Place, Place.id == IncidentPlace.place_id)
            .where(IncidentPlace.incident_id == incident_id)
            .order_by(IncidentPlace.id)
        ).all()
        if "incident_places" in present
        else []
    )
    people_rows = (
        session.execute(
            select(PersonRole, Person)
            .join(Person, Person.id == PersonRole.person_id)
            .where(PersonRole.incident_id == incident_id)
            .order_by(PersonRole.id)
        ).all()
        if "person_roles" in present
        else []
    )
    legal = (
        list(
            session.scalars(
                select(LegalAction)
                .where(LegalAction.incident_id == incident_id)
                .order_by(LegalAction.id)
            )
        )
        if "legal_actions" in present
        else []
    )
    quotes = (
        list(
            session.scalars(
                select(Quote).where(Quote.incident_id == incident_id).order_by(Quote.id)
            )
        )
        if "quotes" in present
        else []
    )
    claims = (
        list(
            session.scalars(
                select(Claim).where(Claim.incident_id == incident_id).order_by(Claim.id)
            )
        )
        if "claims" in present
        else []
    )
    org_ids = {r.organization_id for r, _ in people_rows if r.organization_id}
    org_ids |= {q.organization_id for q in quotes if q.organization_id}
    org_ids |= {c.organization_id for c in claims if c.organization_id}
    org_ids |= {e.organization_id for e in events if e.organization_id}
    orgs = _org_names(session, org_ids)
    can_see_protected = principal.at_least("investigator")

    def hidden(person: Person) -> bool:
        return person.minor or person.sensitivity == "protected"

    def person_name(person: Person) -> str:
        if hidden(person) and not can_see_protected:
            return person.description or "(protected)"
        return person.name or person.description or "(unnamed)"

    person_by_id = {p.id: p for _, p in people_rows}
    timeline = []
    for event in events:
        cite = citation(event, texts)
        timeline.append(
            {
                "id": event.id,
                "kind": event.kind,
                "description": event.description,
                "occurred_on": event.occurred_on,
                "clock_time": event.clock_time,
                "time_precision": event.time_precision,
                "media_offset": event.media_offset,
                "media_clock": _clock(event.media_offset),
                "person": person_name(person_by_id[event.person_id])
                if event.person_id in person_by_id
                else None,
                "organization": orgs.get(event.organization_id or -1),
                "citation": cite,
                "source_name": source_names.get(event.cite_source_id or -1),
            }
        )

    claim_keys: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    claim_status: dict[str, str] = {}
    for claim in claims:
        claim_keys[claim.key][claim.source_id].append(
            {
                "id": claim.id,
                "value": _value(claim.value),
                "stance": claim.stance,
                "speaker": claim.speaker,
                "organization": orgs.get(claim.organization_id or -1),
                "status": claim.status,
                "citation": citation(claim, texts),
            }
        )
        if claim.status == "contradicted" or claim_status.get(claim.key) is None:
            claim_status[claim.key] = claim.status
    quotes_by_source: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for quote in quotes:
        quotes_by_source[quote.source_id].append(
            {
                "id": quote.id,
                "speaker": quote.speaker,
                "affiliation": quote.affiliation or orgs.get(quote.organization_id or -1),
                "text": quote.text,
                "mode": quote.mode,
                "citation": citation(quote, texts),
            }
        )
    return {
        "id": incident.id,
        "title": incident.title,
        "summary": incident.summary,
        "status": incident.status,
        "confidentiality": incident.confidentiality,
        "start_time": incident.start_time,
        "end_time": incident.end_time,
        "place_label": incident.place_label,
        "created_at": incident.created_at,
        "created_by": incident.created_by,
        "updated_at": incident.updated_at,
        "restricted": is_restricted(session, incident_id),
        "timeline": timeline,
        "agencies": [
            {
                "id": org.id,
                "name": org.name,
                "kind": org.kind,
                "role": link.role,
                "wording": link.wording,
                "citation": citation(link, texts),
            }
            for link, org in org_rows
        ],
        "places": [
            {
                "id": place.id,
                "name": place.name,
                "kind": place.kind,
                "admin1": place.admin1,
                "country": place.country,
                "latitude": place.latitude,
                "longitude": place.longitude,
                "role": link.role,
                "precision": link.precision,
                "citation": citation(link, texts),
            }
            for link, place in place_rows
        ],
        "people": [
            {
                "id": person.id,
                "name": person_name(person),
                # The stored values, for the edit forms (investigators see protected names).
                "recorded_name": person.name if can_see_protected or not hidden(person) else None,
                "description": person.description,
                "sensitivity": person.sensitivity,
                "role": role.role,
                "title": role.title,
                "age": person.age if can_see_protected or not person.minor else None,
                "minor": person.minor,
                "organization": orgs.get(role.organization_id or -1),
                "citation": citation(role, texts),
            }
            for role, person in people_rows
            if person.merged_into_id is None
        ],
        "legal_actions": [
            {
                "id": action.id,
                "kind": action.kind,
                "form": action.form,
                "issued_on": action.issued_on,
                "date_precision": action.date_precision,
                "issuer": action.issuer_wording,
                "shown_to_subject": action.shown_to_subject,
                "description": action.description,
                "citation": citation(action, texts),
            }
            for action in legal
        ],
        "sources": [
            {
                "id": s.id,
                "kind": s.kind,
                "title": s.title,
                "outlet": s.outlet,
                "author": s.author,
                "url": s.url,
                "published": s.published,
                "language": s.language,
                "item_id": s.item_id,
                "text_item_id": s.text_item_id,
                "quotes": quotes_by_source.get(s.id, []),
            }
            for s in sources
        ],
        "claims": [
            {
                "key": key,
                "status": claim_status.get(key, "single"),
                "by_source": {str(sid): values for sid, values in by_source.items()},
            }
            for key, by_source in claim_keys.items()
        ],
        "items": evidence_items(session, incident_id),
    }
