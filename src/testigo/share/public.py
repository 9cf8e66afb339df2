"""The public view of an incident: what anyone may see, with nothing protected in it.

Only incidents marked `public` are shown. The facts come from the public dataset row; the timeline
keeps each event's kind and time, and its words with the names of people who are not public
(subjects, witnesses, family, minors) withheld.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from testigo.db.models import EvidenceItem, Incident, IncidentItem
from testigo.errors import NotFoundError
from testigo.records.models import Event, LegalAction, Person, PersonRole
from testigo.share.dataset import dataset_rows
from testigo.vault.service import Vault

WITHHELD = "[name withheld]"


def _name_pattern(people: list[Person]) -> re.Pattern[str] | None:
    words: set[str] = set()
    for person in people:
        if person.sensitivity == "public" or not person.name:
            continue
        words.add(person.name)
        words.update(part for part in re.split(r"[\s-]+", person.name) if len(part) > 2)
    if not words:
        return None
    ordered = sorted(words, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in ordered) + r")\b", re.IGNORECASE)


def public_incidents(vault: Vault) -> list[dict[str, Any]]:
    with vault.reading() as session:
        public = set(
            session.scalars(select(Incident.id).where(Incident.confidentiality == "public"))
        )
    return [row for row in dataset_rows(vault) if row["incident_id"] in public]


def public_incident(vault: Vault, incident_id: int) -> dict[str, Any] | None:
    """The public record, or None when the incident does not exist or is not public."""
    with vault.reading() as session:
        incident = session.get(Incident, incident_id)
        if incident is None or incident.confidentiality != "public":
            return None
    return public_record(vault, incident_id)


def public_record(vault: Vault, incident_id: int) -> dict[str, Any]:
    """Public fields of any incident (for a public copy the user chose to make)."""
    rows = [
        r for r in dataset_rows(vault, include_confidential=True) if r["incident_id"] == incident_id
    ]
    if not rows:
        raise NotFoundError(f"there is no incident {incident_id}")
    with vault.reading() as session:
        people = list(
            session.scalars(
                select(Person)
                .join(PersonRole, PersonRole.person_id == Person.id)
                .where(PersonRole.incident_id == incident_id)
            )
        )
        pattern = _name_pattern(people)
        events = list(
            session.scalars(
                select(Event)
                .where(Event.incident_id == incident_id)
                .order_by(Event.sequence, Event.id)
            )
        )
        legal = list(
            session.scalars(select(LegalAction).where(LegalAction.incident_id == incident_id))
        )
        redacted = list(
            session.scalars(
                select(EvidenceItem)
                .join(IncidentItem, IncidentItem.item_id == EvidenceItem.id)
                .where(IncidentItem.incident_id == incident_id, EvidenceItem.kind != "original")
            )
        )

    def clean(text: str | None) -> str:
        if not text:
            return ""
        return pattern.sub(WITHHELD, text) if pattern else text

    return {
        **rows[0],
        "timeline": [
            {
                "kind": e.kind,
                "date": e.occurred_on,
                "time": e.clock_time,
                "precision": e.time_precision,
                "media_offset_seconds": e.media_offset,
                "text": clean(e.description),
            }
            for e in events
        ],
        "legal": [
            {
                "kind": a.kind,
                "form": a.form,
                "issued_on": a.issued_on,
                "shown_to_subject": a.shown_to_subject,
            }
            for a in legal
        ],
        "redacted_copies": [
            {"sha256": i.sha256, "media_type": i.media_type, "size": i.size}
            for i in redacted
            if i.details.get("derivation") == "redact"
        ],
    }
