"""Incidents: create, read, edit with a reason, list with filters; every change is a ledger entry
in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from testigo.db.models import Incident, IncidentItem
from testigo.errors import NotFoundError, RefusedInputError, UsageError
from testigo.records.journal import Journal, begin_records_write
from testigo.records.models import IncidentPlace, Person, PersonRole, Place
from testigo.records.people import same_person
from testigo.records.vocab import (
    Confidentiality,
    IncidentStatus,
    PlacePrecision,
    TimePrecision,
    check,
)
from testigo.records.vocab import (
    PersonRole as Role,
)
from testigo.vault import ledger
from testigo.vault.service import Vault

MAX_TITLE = 500
# People whose shared name ties two accounts to one encounter (not officials quoted in both).
JOIN_ROLES = [r.value for r in (Role.SUBJECT, Role.FAMILY, Role.WITNESS, Role.OTHER)]
EDITABLE: dict[str, Any] = {
    "title": None,
    "summary": None,
    "start_time": None,
    "end_time": None,
    "time_precision": TimePrecision,
    "place_label": None,
    "place_precision": PlacePrecision,
    "status": IncidentStatus,
    "confidentiality": Confidentiality,
}


@dataclass(frozen=True)
class IncidentSummary:
    id: int
    title: str
    created_at: str
    created_by: str
    items: int
    status: str = IncidentStatus.REPORTED.value
    confidentiality: str = Confidentiality.RESTRICTED.value
    start_time: str | None = None
    time_precision: str | None = None
    place_label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _summary(incident: Incident, items: int) -> IncidentSummary:
    return IncidentSummary(
        incident.id,
        incident.title,
        incident.created_at,
        incident.created_by,
        items,
        incident.status,
        incident.confidentiality,
        incident.start_time,
        incident.time_precision,
        incident.place_label,
    )


def clean_title(title: str) -> str:
    clean = " ".join(title.split())
    if not clean:
        raise RefusedInputError("an incident needs a title")
    if len(clean) > MAX_TITLE:
        raise RefusedInputError(f"an incident title can have at most {MAX_TITLE} characters")
    return clean


def add_incident(
    session: Session,
    journal: Journal,
    title: str,
    *,
    summary: str | None = None,
    start_time: str | None = None,
    time_precision: str | None = None,
    place_label: str | None = None,
    place_precision: str | None = None,
    confidentiality: str = Confidentiality.RESTRICTED.value,
) -> Incident:
    clean = clean_title(title)
    incident = Incident(
        title=clean,
        created_at=ledger.utc_now(),
        created_by=journal.actor,
        summary=summary,
        start_time=start_time,
        time_precision=check(TimePrecision, time_precision, "time_precision").value
        if time_precision
        else None,
        place_label=place_label,
        place_precision=check(PlacePrecision, place_precision, "place_precision").value
        if place_precision
        else None,
        status=IncidentStatus.REPORTED.value,
        confidentiality=check(Confidentiality, confidentiality, "confidentiality").value,
    )
    session.add(incident)
    session.flush()
    journal.note(
        "incident.create",
        [f"incident:{incident.id}"],
        {
            "title": clean,
            "summary": summary,
            "start_time": start_time,
            "time_precision": incident.time_precision,
            "place": place_label,
            "place_precision": incident.place_precision,
            "status": incident.status,
            "confidentiality": incident.confidentiality,
        },
    )
    return incident


def create_incident(
    vault: Vault, title: str, *, actor: str, confidentiality: str = "restricted"
) -> IncidentSummary:
    with vault.transaction() as session:
        begin_records_write(session)
        journal = Journal(actor)
        incident = add_incident(session, journal, title, confidentiality=confidentiality)
        journal.append(session)
        return _summary(incident, 0)


def get_incident(vault: Vault, incident_id: int) -> IncidentSummary:
    with vault.reading() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFoundError(f"there is no incident {incident_id}")
        count = session.scalar(
            select(func.count())
            .select_from(IncidentItem)
            .where(IncidentItem.incident_id == incident_id)
        )
        return _summary(incident, int(count or 0))


def list_incidents(
    vault: Vault,
    *,
    limit: int = 100,
    offset: int = 0,
    status: str | None = None,
    text: str | None = None,
    place: str | None = None,
) -> list[IncidentSummary]:
    """Newest first; ``text`` searches titles and summaries, ``place`` the place label."""
    counts = (
        select(IncidentItem.incident_id, func.count().label("n"))
        .group_by(IncidentItem.incident_id)
        .subquery()
    )
    query = select(Incident, func.coalesce(counts.c.n, 0)).outerjoin(
        counts, counts.c.incident_id == Incident.id
    )
    if status:
        query = query.where(Incident.status == check(IncidentStatus, status, "status").value)
    if text:
        like = f"%{text.lower()}%"
        query = query.where(
            or_(func.lower(Incident.title).like(like), func.lower(Incident.summary).like(like))
        )
    if place:
        query = query.where(func.lower(Incident.place_label).like(f"%{place.lower()}%"))
    with vault.reading() as session:
        rows = session.execute(query.order_by(Incident.id.desc()).limit(limit).offset(offset))
        return [_summary(i, int(n)) for i, n in rows]


def update_incident(
    vault: Vault, incident_id: int, field: str, value: str | None, *, reason: str, actor: str
) -> IncidentSummary:
    """Change one field, keeping the old value and the reason in the ledger."""
    if field not in EDITABLE:
        raise UsageError(f"--field must be one of: {', '.join(EDITABLE)} (got {field!r})")
    if not reason or not reason.strip():
        raise UsageError("an edit needs a reason (--reason)")
    vocabulary = EDITABLE[field]
    new: str | None = value if value not in ("", None) else None
    if vocabulary is not None and new is not None:
        new = check(vocabulary, new, field).value
    if field == "title":
        new = clean_title(value or "")
    if field in ("status", "confidentiality") and new is None:
        raise UsageError(f"{field} cannot be empty")
    with vault.transaction() as session:
        begin_records_write(session)
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFoundError(f"there is no incident {incident_id}")
        old = getattr(incident, field)
        setattr(incident, field, new)
        incident.updated_at = ledger.utc_now()
        journal = Journal(actor)
        journal.note(
            "incident.edit",
            [f"incident:{incident_id}"],
            {"field": field, "from": old, "to": new, "reason": reason.strip()},
        )
        journal.append(session)
        session.flush()
        count = session.scalar(
            select(func.count())
            .select_from(IncidentItem)
            .where(IncidentItem.incident_id == incident_id)
        )
        return _summary(incident, int(count or 0))


def dates_compatible(a: str | None, b: str | None) -> bool:
    """Same day, or one of them unknown; a month or year only has to contain the other."""
    if not a or not b:
        return True
    return a.startswith(b) or b.startswith(a)


def find_joinable(
    session: Session, subject_names: list[str], city_key: str | None, date: str | None
) -> int | None:
    """The incident a new source is about: a shared subject (surname), the same city when both
    know it, and compatible dates. The most recently created match wins."""
    from testigo.records.people import surname_tokens

    tokens = {t for name in subject_names for t in surname_tokens(name)}
    if not tokens:
        return None
    candidates = session.execute(
        select(PersonRole.incident_id, Person.name)
        .join(Person, Person.id == PersonRole.person_id)
        .where(
            PersonRole.role.in_(JOIN_ROLES),
            Person.name.is_not(None),
            or_(*(Person.name.ilike(f"%{t}%") for t in tokens))
            | Person.surname_key.in_(sorted(tokens)),
        )
        .order_by(PersonRole.incident_id.desc())
    ).all()
    seen: set[int] = set()
    for incident_id, name in candidates:
        if incident_id in seen or not any(same_person(name or "", n) for n in subject_names):
            continue
        seen.add(incident_id)
        incident = session.get(Incident, incident_id)
        if incident is None or not dates_compatible(incident.start_time, date):
            continue
        if city_key is not None:
            keys = set(
                session.scalars(
                    select(Place.key)
                    .join(IncidentPlace, IncidentPlace.place_id == Place.id)
                    .where(
                        IncidentPlace.incident_id == incident_id, IncidentPlace.role == "encounter"
                    )
                )
            )
            if keys and city_key not in keys:
                continue
        return int(incident_id)
    return None
