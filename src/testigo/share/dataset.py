"""The public dataset for researchers: one row per incident, nothing protected in it.

Confidential incidents are left out entirely. Person names appear only for people whose
sensitivity is public (officials, spokespeople); everyone else is counted, never named. Free-text
fields that may name people (summaries, quotes) are not exported.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

from testigo.db.models import EvidenceItem, Incident, IncidentItem
from testigo.errors import UsageError
from testigo.records.models import (
    Claim,
    IncidentOrganization,
    IncidentPlace,
    LegalAction,
    Organization,
    Person,
    PersonRole,
    Place,
    Source,
)
from testigo.vault.service import Vault

COLUMNS = [
    "incident_id",
    "title",
    "status",
    "start",
    "start_precision",
    "end",
    "city",
    "state",
    "country",
    "latitude",
    "longitude",
    "place_precision",
    "agencies",
    "use_of_force",
    "legal_actions",
    "warrant_shown",
    "people_involved",
    "minors_involved",
    "public_people",
    "sources",
    "source_kinds",
    "has_video",
    "evidence_items",
]


def _use_of_force(claims: list[Claim]) -> str:
    values = {str(c.value).lower() for c in claims if c.key == "use_of_force"}
    if "true" in values and "false" in values:
        return "disputed"
    if "true" in values:
        return "yes"
    if "false" in values:
        return "no"
    return ""


def dataset_rows(vault: Vault, *, include_confidential: bool = False) -> list[dict[str, Any]]:
    with vault.reading() as session:
        query = select(Incident).order_by(Incident.id)
        if not include_confidential:
            query = query.where(Incident.confidentiality != "confidential")
        incidents = list(session.scalars(query))
        ids = [i.id for i in incidents]
        orgs = {o.id: o for o in session.scalars(select(Organization))}
        places = {p.id: p for p in session.scalars(select(Place))}
        agencies: dict[int, list[str]] = defaultdict(list)
        for involved in session.scalars(
            select(IncidentOrganization).where(IncidentOrganization.incident_id.in_(ids))
        ):
            org = orgs.get(involved.organization_id)
            if org is not None and org.name not in agencies[involved.incident_id]:
                agencies[involved.incident_id].append(org.name)
        where: dict[int, IncidentPlace] = {}
        for placed in session.scalars(
            select(IncidentPlace)
            .where(IncidentPlace.incident_id.in_(ids))
            .order_by(IncidentPlace.id)
        ):
            where.setdefault(placed.incident_id, placed)
        legal: dict[int, list[LegalAction]] = defaultdict(list)
        for action in session.scalars(select(LegalAction).where(LegalAction.incident_id.in_(ids))):
            legal[action.incident_id].append(action)
        claims: dict[int, list[Claim]] = defaultdict(list)
        for claim in session.scalars(select(Claim).where(Claim.incident_id.in_(ids))):
            claims[claim.incident_id].append(claim)
        sources: dict[int, Counter[str]] = defaultdict(Counter)
        for source in session.scalars(select(Source).where(Source.incident_id.in_(ids))):
            if source.incident_id is not None:
                sources[source.incident_id][source.kind] += 1
        people: dict[int, dict[int, Person]] = defaultdict(dict)
        public_names: dict[int, list[str]] = defaultdict(list)
        for role, person in session.execute(
            select(PersonRole, Person)
            .join(Person, Person.id == PersonRole.person_id)
            .where(PersonRole.incident_id.in_(ids))
        ):
            people[role.incident_id][person.id] = person
            label = f"{person.name} ({role.title or role.role})" if person.name else None
            if (
                person.sensitivity == "public"
                and label
                and label not in public_names[role.incident_id]
            ):
                public_names[role.incident_id].append(label)
        media: dict[int, Counter[str]] = defaultdict(Counter)
        for incident_id, media_type in session.execute(
            select(IncidentItem.incident_id, EvidenceItem.media_type)
            .join(EvidenceItem, EvidenceItem.id == IncidentItem.item_id)
            .where(IncidentItem.incident_id.in_(ids), EvidenceItem.kind == "original")
        ):
            media[incident_id][media_type.split("/")[0]] += 1
    rows = []
    for incident in incidents:
        location = where.get(incident.id)
        place = places.get(location.place_id) if location else None
        city, state, country = _admin_levels(place, places)
        shown = [a.shown_to_subject for a in legal[incident.id] if "warrant" in a.kind]
        rows.append(
            {
                "incident_id": incident.id,
                "title": incident.title,
                "status": incident.status,
                "start": incident.start_time or "",
                "start_precision": incident.time_precision or "",
                "end": incident.end_time or "",
                "city": city,
                "state": state,
                "country": country,
                "latitude": place.latitude if place and place.latitude is not None else "",
                "longitude": place.longitude if place and place.longitude is not None else "",
                "place_precision": (location.precision if location else incident.place_precision)
                or "",
                "agencies": "; ".join(agencies[incident.id]),
                "use_of_force": _use_of_force(claims[incident.id]),
                "legal_actions": "; ".join(sorted({a.kind for a in legal[incident.id]})),
                "warrant_shown": "no" if False in shown else ("yes" if True in shown else ""),
                "people_involved": len(people[incident.id]),
                "minors_involved": sum(1 for p in people[incident.id].values() if p.minor),
                "public_people": "; ".join(public_names[incident.id]),
                "sources": sum(sources[incident.id].values()),
                "source_kinds": "; ".join(
                    f"{k}:{n}" for k, n in sorted(sources[incident.id].items())
                ),
                "has_video": "yes" if media[incident.id]["video"] else "no",
                "evidence_items": sum(media[incident.id].values()),
            }
        )
    return rows


def _admin_levels(place: Place | None, places: dict[int, Place]) -> tuple[str, str, str]:
    """City, state and country of a place (a facility takes its city from its parent)."""
    if place is None:
        return "", "", ""
    city_place = place
    if place.kind not in ("city", "town", "locality") and place.parent_id in places:
        city_place = places[place.parent_id]
    city = city_place.name if city_place.kind in ("city", "town", "locality") else ""
    return city, place.admin1 or "", place.country or ""


def export_dataset(vault: Vault, out: Path, *, fmt: str) -> dict[str, Any]:
    fmt = fmt.lower()
    if fmt not in ("csv", "json"):
        raise UsageError("--dataset takes csv or json")
    out = out.expanduser().absolute()
    if out.exists():
        raise UsageError(f"{out} already exists: choose a new name")
    if not out.parent.is_dir():
        raise UsageError(f"the folder {out.parent} does not exist")
    rows = dataset_rows(vault)
    partial = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            if fmt == "csv":
                writer = csv.DictWriter(handle, fieldnames=COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
            else:
                json.dump(
                    {"columns": COLUMNS, "incidents": rows}, handle, ensure_ascii=False, indent=1
                )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return {"path": str(out), "rows": len(rows), "format": fmt}
