"""Creating and listing incidents; every change is a ledger entry in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from testigo.db.models import Incident, IncidentItem
from testigo.errors import NotFoundError, RefusedInputError
from testigo.vault import ledger
from testigo.vault.service import Vault

MAX_TITLE = 500


@dataclass(frozen=True)
class IncidentSummary:
    id: int
    title: str
    created_at: str
    created_by: str
    items: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def create_incident(vault: Vault, title: str, *, actor: str) -> IncidentSummary:
    clean = " ".join(title.split())
    if not clean:
        raise RefusedInputError("an incident needs a title")
    if len(clean) > MAX_TITLE:
        raise RefusedInputError(f"an incident title can have at most {MAX_TITLE} characters")
    with vault.transaction() as session:
        now = ledger.utc_now()
        incident = Incident(title=clean, created_at=now, created_by=actor)
        session.add(incident)
        session.flush()
        ledger.append_entry(
            session,
            ledger.NewEntry(
                entry_type="incident.create",
                actor=actor,
                subjects=[f"incident:{incident.id}"],
                params={"title": clean},
            ),
        )
        return IncidentSummary(incident.id, clean, now, actor, 0)


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
        return IncidentSummary(
            incident.id, incident.title, incident.created_at, incident.created_by, int(count or 0)
        )


def list_incidents(vault: Vault, *, limit: int = 100, offset: int = 0) -> list[IncidentSummary]:
    counts = (
        select(IncidentItem.incident_id, func.count().label("n"))
        .group_by(IncidentItem.incident_id)
        .subquery()
    )
    with vault.reading() as session:
        rows = session.execute(
            select(Incident, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.incident_id == Incident.id)
            .order_by(Incident.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [IncidentSummary(i.id, i.title, i.created_at, i.created_by, int(n)) for i, n in rows]
