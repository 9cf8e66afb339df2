"""The whole incident record, as the CLI, the web pages and the JSON API show it.

Every fact comes with its citation and, where the source text is stored, the exact words it
cites (read back from the vault), so a reader can check each one. Claims are grouped by key with
every source's account side by side.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.db.models import Incident, IncidentItem
from testigo.errors import NotFoundError
from testigo.records.citations import cited_dict
from testigo.records.models import (
    Cited,
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
from testigo.records.organizations import view as organization_view
from testigo.records.people import person_dict
from testigo.records.sources import source_dict
from testigo.vault.service import Vault

MAX_TEXT_BYTES = 20 * 1024 * 1024


class SourceTexts:
    """Stored text items, read once each, to quote the words a citation points at."""

    def __init__(self, vault: Vault, session: Session) -> None:
        self.vault = vault
        self.session = session
        self.texts: dict[int, str | None] = {}

    def of(self, row: Cited) -> str | None:
        source_id = row.cite_source_id
        if source_id is None:
            return None
        if source_id not in self.texts:
            self.texts[source_id] = self._read(source_id)
        return self.texts[source_id]

    def _read(self, source_id: int) -> str | None:
        from testigo.db.models import EvidenceItem

        source = self.session.get(Source, source_id)
        if source is None or source.text_item_id is None:
            return None
        item = self.session.get(EvidenceItem, source.text_item_id)
        if item is None or item.size > MAX_TEXT_BYTES:
            return None
        try:
            with self.vault.blobs.open(item.sha256) as handle:
                return handle.read().decode("utf-8")
        except (KeyError, OSError, UnicodeDecodeError):
            return None

    def cite(self, row: Cited) -> dict[str, Any]:
        return cited_dict(row, self.of(row))


def _incident_dict(incident: Incident, items: list[int]) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "summary": incident.summary,
        "start_time": incident.start_time,
        "end_time": incident.end_time,
        "time_precision": incident.time_precision,
        "place": incident.place_label,
        "place_precision": incident.place_precision,
        "status": incident.status,
        "confidentiality": incident.confidentiality,
        "created_at": incident.created_at,
        "created_by": incident.created_by,
        "updated_at": incident.updated_at,
        "items": items,
    }


def people_section(session: Session, texts: SourceTexts, incident_id: int) -> list[dict[str, Any]]:
    roles = list(
        session.scalars(
            select(PersonRole).where(PersonRole.incident_id == incident_id).order_by(PersonRole.id)
        )
    )
    by_person: dict[int, list[PersonRole]] = {}
    for role in roles:
        by_person.setdefault(role.person_id, []).append(role)
    out = []
    for person_id, person_roles in by_person.items():
        person = session.get(Person, person_id)
        if person is None:
            continue
        data = person_dict(session, person, texts.of(person))
        data["roles"] = [
            {
                "role": r.role,
                "detail": r.detail,
                "title": r.title,
                "organization": r.organization_id,
                "citation": texts.cite(r),
            }
            for r in person_roles
        ]
        out.append(data)
    return out


def organizations_section(
    session: Session, texts: SourceTexts, incident_id: int
) -> list[dict[str, Any]]:
    out = []
    for link in session.scalars(
        select(IncidentOrganization)
        .where(IncidentOrganization.incident_id == incident_id)
        .order_by(IncidentOrganization.id)
    ):
        org = session.get(Organization, link.organization_id)
        if org is None:
            continue
        data = organization_view(session, org).to_dict()
        data.update(role=link.role, wording=link.wording, citation=texts.cite(link))
        out.append(data)
    return out


def places_section(session: Session, texts: SourceTexts, incident_id: int) -> list[dict[str, Any]]:
    out = []
    for link in session.scalars(
        select(IncidentPlace)
        .where(IncidentPlace.incident_id == incident_id)
        .order_by(IncidentPlace.id)
    ):
        place = session.get(Place, link.place_id)
        if place is None:
            continue
        out.append(
            {
                "id": place.id,
                "name": place.name,
                "kind": place.kind,
                "admin1": place.admin1,
                "country": place.country,
                "country_code": place.country_code,
                "latitude": place.latitude,
                "longitude": place.longitude,
                "geonameid": place.geonameid,
                "role": link.role,
                "precision": link.precision,
                "wording": link.wording,
                "citation": texts.cite(link),
            }
        )
    return out


def legal_section(session: Session, texts: SourceTexts, incident_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "kind": a.kind,
            "form": a.form,
            "person": a.person_id,
            "issued_on": a.issued_on,
            "date_precision": a.date_precision,
            "issuer": a.issuer_wording,
            "issuer_organization": a.issuer_organization_id,
            "shown_to_subject": a.shown_to_subject,
            "facts": a.facts,
            "description": a.description,
            "citation": texts.cite(a),
        }
        for a in session.scalars(
            select(LegalAction)
            .where(LegalAction.incident_id == incident_id)
            .order_by(LegalAction.id)
        )
    ]


def timeline_section(
    session: Session, texts: SourceTexts, incident_id: int
) -> list[dict[str, Any]]:
    """Events in reported order: by source, then by their order in that source."""
    return [
        {
            "id": e.id,
            "kind": e.kind,
            "description": e.description,
            "occurred_on": e.occurred_on,
            "clock_time": e.clock_time,
            "time_precision": e.time_precision,
            "media_offset_seconds": e.media_offset,
            "person": e.person_id,
            "organization": e.organization_id,
            "source": e.cite_source_id,
            "citation": texts.cite(e),
        }
        for e in session.scalars(
            select(Event)
            .where(Event.incident_id == incident_id)
            .order_by(Event.cite_source_id, Event.sequence, Event.id)
        )
    ]


def quotes_section(session: Session, texts: SourceTexts, incident_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": q.id,
            "source": q.source_id,
            "speaker": q.speaker,
            "person": q.person_id,
            "affiliation": q.affiliation,
            "organization": q.organization_id,
            "text": q.text,
            "mode": q.mode,
            "citation": texts.cite(q),
        }
        for q in session.scalars(
            select(Quote).where(Quote.incident_id == incident_id).order_by(Quote.id)
        )
    ]


def claims_section(session: Session, texts: SourceTexts, incident_id: int) -> list[dict[str, Any]]:
    """One entry per claim key with every account of it side by side."""
    groups: dict[str, list[Claim]] = {}
    for claim in session.scalars(
        select(Claim).where(Claim.incident_id == incident_id).order_by(Claim.key, Claim.id)
    ):
        groups.setdefault(claim.key, []).append(claim)
    out = []
    for key, claims in groups.items():
        statuses = {c.status for c in claims}
        status = (
            "contradicted"
            if "contradicted" in statuses
            else "corroborated"
            if "corroborated" in statuses
            else "single"
        )
        out.append(
            {
                "key": key,
                "status": status,
                "sources": sorted({c.source_id for c in claims}),
                "accounts": [
                    {
                        "claim": c.id,
                        "source": c.source_id,
                        "value": json.loads(c.value),
                        "stance": c.stance,
                        "speaker": c.speaker,
                        "quote": c.quote_id,
                        "status": c.status,
                        "citation": texts.cite(c),
                    }
                    for c in claims
                ],
            }
        )
    return out


def incident_record(vault: Vault, incident_id: int) -> dict[str, Any]:
    """Everything known about an incident, each fact with its citation."""
    with vault.reading() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFoundError(f"there is no incident {incident_id}")
        texts = SourceTexts(vault, session)
        items = list(
            session.scalars(
                select(IncidentItem.item_id)
                .where(IncidentItem.incident_id == incident_id)
                .order_by(IncidentItem.item_id)
            )
        )
        sources = session.scalars(
            select(Source).where(Source.incident_id == incident_id).order_by(Source.id)
        )
        return {
            "incident": _incident_dict(incident, items),
            "sources": [source_dict(s) for s in sources],
            "people": people_section(session, texts, incident_id),
            "organizations": organizations_section(session, texts, incident_id),
            "places": places_section(session, texts, incident_id),
            "legal_actions": legal_section(session, texts, incident_id),
            "timeline": timeline_section(session, texts, incident_id),
            "quotes": quotes_section(session, texts, incident_id),
            "claims": claims_section(session, texts, incident_id),
            "content_credentials": credentials_section(session, items),
        }


def credentials_section(session: Session, items: list[int]) -> list[dict[str, Any]]:
    """The Content Credentials (C2PA) of the incident's items that were read: one summary each,
    citing the ``annotation.add`` ledger entry that recorded it."""
    from testigo.protect.c2pa_step import credentials_by_item

    return [
        {"item": item_id, **summary}
        for item_id, summary in credentials_by_item(session, items).items()
    ]
