"""Turn one article's extraction into cited rows of an incident record.

Everything here runs inside the import's single transaction and only notes ledger entries; the
importer appends them in one batch. Rows are added without a flush each (the journal flushes once
before appending), so one article costs a few INSERTs per table. Spans come straight from the
extractor and index into the source's stored text item.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.extract.model import AgencyMention, ArticleExtraction
from testigo.extract.model import Person as PersonMention
from testigo.records.article_claims import fact_claims, record_quotes
from testigo.records.citations import Citation
from testigo.records.claims import ClaimDraft, add_claims
from testigo.records.events import add_event, classify
from testigo.records.journal import Journal
from testigo.records.legal import (
    NOTICE_TO_APPEAR,
    WARRANTS,
    LegalDraft,
    add_legal_action,
    draft_from_fact,
    issuer_agency_wording,
    sentence_bounds,
)
from testigo.records.models import Claim, IncidentOrganization, IncidentPlace, Person, Source
from testigo.records.organizations import organization_id_for
from testigo.records.people import add_alias, add_person, add_role, find_named, people_of_incident
from testigo.records.places import PlaceRef, facility_for, fold, place_for
from testigo.records.vocab import (
    EventKind,
    LegalActionKind,
    PersonRole,
    PlacePrecision,
    PlaceRole,
)

ROLE_FROM_EXTRACTOR: dict[str, tuple[PersonRole, str | None]] = {
    "arrested": (PersonRole.SUBJECT, "arrested"),
    "detained": (PersonRole.SUBJECT, "detained"),
    "subject": (PersonRole.SUBJECT, None),
    "family": (PersonRole.FAMILY, None),
    "witness": (PersonRole.WITNESS, None),
    "officer": (PersonRole.OFFICER, None),
    "official": (PersonRole.OFFICIAL, None),
    "spokesperson": (PersonRole.SPOKESPERSON, None),
    "journalist": (PersonRole.JOURNALIST, None),
    "lawyer": (PersonRole.LAWYER, None),
    "attorney": (PersonRole.LAWYER, None),
}
TIMELINE_CLAIMS = {
    EventKind.APPROACH,
    EventKind.DOCUMENT_REQUEST,
    EventKind.USE_OF_FORCE,
    EventKind.ARREST,
    EventKind.INJURY,
    EventKind.TRANSPORT,
    EventKind.DETENTION,
    EventKind.RELEASE,
    EventKind.REMOVAL,
}


@dataclass
class Recorded:
    """What one source added to the record: row counts by table."""

    created: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, n: int = 1) -> None:
        self.created[table] = self.created.get(table, 0) + n

    def counts(self) -> dict[str, int]:
        return dict(sorted(self.created.items()))


def role_of(extracted: str) -> tuple[PersonRole, str | None]:
    return ROLE_FROM_EXTRACTOR.get(extracted, (PersonRole.OTHER, None))


class ArticleRecorder:
    """Writes one extraction into one incident, reusing people, places and agencies it has."""

    def __init__(
        self,
        session: Session,
        journal: Journal,
        *,
        incident_id: int,
        source: Source,
        extraction: ArticleExtraction,
        new_incident: bool = False,
    ) -> None:
        self.session = session
        # An incident created in this transaction has no people, agencies or places yet.
        self.new_incident = new_incident
        self.journal = journal
        self.incident_id = incident_id
        self.source = source
        self.x = extraction
        self.cite = Citation(source.id, source.text_item_id)
        self.out = Recorded()
        self.claims: list[ClaimDraft] = []
        self.claim_rows: list[Claim] = []
        self.people = [] if new_incident else people_of_incident(session, incident_id)
        self.org_ids: dict[str, int | None] = {}
        self.main_subject: Person | None = None
        self.place: PlaceRef | None = None
        self.linked_places: set[tuple[int, str]] | None = set() if new_incident else None

    def run(self) -> Recorded:
        self.organizations()
        self.places()
        named = self.named_people()
        unnamed = self.unnamed_people()
        self.journal.flush(self.session)  # one flush gives every new person an id
        self.roles(named, unnamed)
        self.legal_actions()
        self.timeline()
        quote_ids = record_quotes(self)
        self.claims.extend(fact_claims(self.x))
        rows = add_claims(
            self.session,
            self.journal,
            incident_id=self.incident_id,
            source=self.source,
            drafts=self.claims,
            quote_ids=quote_ids,
        )
        self.claim_rows = rows
        self.out.add("claims", len(rows))
        return self.out

    def org(self, wording: str | None) -> int | None:
        if not wording:
            return None
        if wording not in self.org_ids:
            self.org_ids[wording] = organization_id_for(self.session, self.journal, wording)
        return self.org_ids[wording]

    def organizations(self) -> None:
        linked: set[int] = set()
        if not self.new_incident:
            linked = set(
                self.session.scalars(
                    select(IncidentOrganization.organization_id).where(
                        IncidentOrganization.incident_id == self.incident_id
                    )
                )
            )
        first: dict[str, AgencyMention] = {}
        for m in self.x.agency_mentions:
            first.setdefault(m.name, m)
        for name in self.x.agencies:
            org_id = self.org(name)
            if org_id is None:
                continue
            mention = first.get(name)
            start, end = (mention.start, mention.end) if mention else (None, None)
            self.claims.append(ClaimDraft(f"agency.involved:{org_id}", True, start, end))
            if org_id in linked:
                continue
            linked.add(org_id)
            row = IncidentOrganization(
                incident_id=self.incident_id,
                organization_id=org_id,
                role="involved",
                wording=mention.text if mention else name,
            )
            citation = self.cite.span(start, end)
            citation.apply(row)
            self.journal.add(self.session, row)
            self.out.add("incident_organizations")
            self.journal.later(
                lambda row=row, citation=citation: (  # type: ignore[misc]
                    "incident.organization",
                    [
                        f"incident:{self.incident_id}",
                        f"organization:{row.organization_id}",
                        f"incident_organization:{row.id}",
                    ],
                    {"role": row.role, "wording": row.wording, "citation": citation.to_dict()},
                )
            )

    def _link_place(
        self, place: PlaceRef, role: PlaceRole, precision: str, wording: str, citation: Citation
    ) -> None:
        if self.linked_places is None:
            self.linked_places = {
                (place_id, place_role)
                for place_id, place_role in self.session.execute(
                    select(IncidentPlace.place_id, IncidentPlace.role).where(
                        IncidentPlace.incident_id == self.incident_id
                    )
                )
            }
        if (place.id, role.value) in self.linked_places:
            return
        self.linked_places.add((place.id, role.value))
        row = IncidentPlace(
            incident_id=self.incident_id,
            place_id=place.id,
            role=role.value,
            precision=precision,
            wording=wording[:500],
        )
        citation.apply(row)
        self.journal.add(self.session, row)
        self.out.add("incident_places")
        self.journal.later(
            lambda: (
                "incident.place",
                [f"incident:{self.incident_id}", f"place:{place.id}", f"incident_place:{row.id}"],
                {
                    "role": role.value,
                    "precision": precision,
                    "wording": wording,
                    "citation": citation.to_dict(),
                },
            )
        )

    def places(self) -> None:
        loc = self.x.location
        if loc.city or loc.state or loc.country:
            self.place = place_for(self.session, self.journal, loc.city, loc.state, loc.country)
        span = self.cite.span(loc.start, loc.end)
        if self.place is not None:
            precision = {
                "city": PlacePrecision.CITY,
                "state": PlacePrecision.STATE,
                "country": PlacePrecision.COUNTRY,
            }.get(self.place.kind, PlacePrecision.CITY)
            wording = ", ".join(p for p in (loc.city, loc.state, loc.country) if p)
            self._link_place(self.place, PlaceRole.ENCOUNTER, precision.value, wording, span)
            if loc.city:
                self.claims.append(
                    ClaimDraft("location.city", fold(self.place.name), loc.start, loc.end)
                )
            if self.place.admin1:
                self.claims.append(
                    ClaimDraft("location.state", self.place.admin1, loc.start, loc.end)
                )
        facility = self.x.detention_facility
        if facility is not None:
            org_id = self.org(facility.text)
            row = facility_for(
                self.session, self.journal, facility.text, near=self.place, organization_id=org_id
            )
            span = self.cite.span(facility.start, facility.end)
            self._link_place(
                row, PlaceRole.DETENTION, PlacePrecision.FACILITY.value, facility.text, span
            )
            self.claims.append(
                ClaimDraft("detention_facility", fold(row.name), facility.start, facility.end)
            )

    def _person(
        self,
        name: str | None,
        description: str | None,
        age: int | None,
        count: int | None,
        role: PersonRole,
        citation: Citation,
    ) -> Person:
        if name:
            found = find_named(self.people, name)
            if found is not None:
                if add_alias(self.session, self.journal, found, name, citation) is not None:
                    self.out.add("person_aliases")
                if found.age is None and age is not None:
                    found.age = age
                return found
        else:
            key = fold(description or "")
            for person in self.people:
                if person.name is None and fold(person.description or "") == key:
                    return person
        person = add_person(
            self.session,
            self.journal,
            name=name,
            description=description,
            age=age,
            count=count,
            role=role,
            citation=citation,
        )
        self.people.append(person)
        self.out.add("people")
        return person

    def named_people(self) -> list[tuple[PersonMention, PersonRole, str | None, Citation, Person]]:
        found = []
        for p in self.x.people:
            role, detail = role_of(p.role)
            citation = self.cite.span(p.start, p.end)
            found.append(
                (
                    p,
                    role,
                    detail,
                    citation,
                    self._person(p.name, p.title, p.age, None, role, citation),
                )
            )
        return found

    def unnamed_people(self) -> list[tuple[Person, PersonRole, str | None, Citation]]:
        found = []
        for s in self.x.subjects:
            if s.name is not None:
                continue
            role, detail = role_of(s.role)
            citation = self.cite.span(s.start, s.end)
            person = self._person(None, s.description, s.age, s.count, role, citation)
            found.append((person, role, detail, citation))
        return found

    def roles(
        self,
        named: list[tuple[PersonMention, PersonRole, str | None, Citation, Person]],
        unnamed: list[tuple[Person, PersonRole, str | None, Citation]],
    ) -> None:
        for p, role, detail, citation, person in named:
            add_role(
                self.session,
                self.journal,
                incident_id=self.incident_id,
                person=person,
                role=role,
                citation=citation,
                detail=detail,
                title=p.title,
                organization_id=self.org(p.affiliation),
            )
            self.out.add("person_roles")
            if role == PersonRole.SUBJECT and self.main_subject is None:
                self.main_subject = person
            if p.age is not None:
                self.claims.append(ClaimDraft(f"subject.age:{person.id}", p.age, p.start, p.end))
        for person, role, detail, citation in unnamed:
            add_role(
                self.session,
                self.journal,
                incident_id=self.incident_id,
                person=person,
                role=role,
                citation=citation,
                detail=detail,
            )
            self.out.add("person_roles")

    def legal_actions(self) -> None:
        drafts: list[LegalDraft] = []
        for fact in self.x.legal:
            draft = draft_from_fact(fact.kind, fact.text, fact.start, fact.end)
            if draft is not None:
                drafts.append(draft)
        text = self.x.text
        for m in NOTICE_TO_APPEAR.finditer(text):
            start, end = sentence_bounds(text, m.start(), m.end())
            drafts.append(LegalDraft(LegalActionKind.NOTICE_TO_APPEAR, text[start:end], start, end))
        subject_id = self.main_subject.id if self.main_subject else None
        for draft in drafts:
            add_legal_action(
                self.session,
                self.journal,
                incident_id=self.incident_id,
                draft=draft,
                citation=self.cite.span(draft.start, draft.end),
                person_id=subject_id,
                issuer_organization_id=self.org(issuer_agency_wording(draft.issuer_wording)),
            )
            self.out.add("legal_actions")
            kind = draft.kind.value
            self.claims.append(ClaimDraft(f"legal:{kind}", True, draft.start, draft.end))
            if draft.issued_on:
                self.claims.append(
                    ClaimDraft(f"legal:{kind}.date", draft.issued_on, draft.start, draft.end)
                )
            if draft.kind in WARRANTS:
                self.claims.append(ClaimDraft("warrant.claimed", True, draft.start, draft.end))
                if draft.shown_to_subject is not None:
                    self.claims.append(
                        ClaimDraft("warrant.shown", draft.shown_to_subject, draft.start, draft.end)
                    )

    def person_in(self, start: int, end: int) -> int | None:
        for p in self.x.people:
            if any(start <= m.start < end for m in p.mentions):
                found = find_named(self.people, p.name)
                if found is not None:
                    return found.id
        return None

    def timeline(self) -> None:
        date = self.x.incident_date
        seen: set[EventKind] = set()
        for n, fact in enumerate(self.x.events):
            kind = classify(fact.text, fact.kind)
            agency = next(
                (m.name for m in self.x.agency_mentions if fact.start <= m.start < fact.end), None
            )
            add_event(
                self.session,
                self.journal,
                incident_id=self.incident_id,
                kind=kind,
                description=fact.text,
                citation=self.cite.span(fact.start, fact.end),
                sequence=n,
                occurred_on=date.value if date else None,
                time_precision=date.precision if date else None,
                person_id=self.person_in(fact.start, fact.end),
                organization_id=self.org(agency),
            )
            self.out.add("events")
            if kind in TIMELINE_CLAIMS and kind not in seen:
                seen.add(kind)
                self.claims.append(ClaimDraft(f"event:{kind.value}", True, fact.start, fact.end))
