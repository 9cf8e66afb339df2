"""People: named or described, their aliases, their roles in incidents, and merges.

Two records of one person are merged, never deleted: the merged record points at the survivor,
its roles, aliases, quotes, events and legal actions move over, its name becomes an alias, and the
merge is a ledger entry with the actor and the reason.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from testigo.errors import NotFoundError, UsageError
from testigo.records.citations import Citation, cited_dict
from testigo.records.journal import Journal, begin_records_write
from testigo.records.models import (
    Event,
    LegalAction,
    Person,
    PersonAlias,
    PersonRole,
    Quote,
)
from testigo.records.vocab import PersonRole as Role
from testigo.records.vocab import Sensitivity, check
from testigo.vault import ledger
from testigo.vault.service import Vault

_MINOR_WORDS = re.compile(
    r"\b(?:child|children|kids?|son|sons|daughters?|teen(?:age|ager)?s?|minors?|bab(?:y|ies)|"
    r"boys?|girls?|toddlers?|infants?|niñ[oa]s?|hij[oa]s?)\b",
    re.IGNORECASE,
)
_ALIASES = "testigo.records.people.aliases"
_NAME_PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "da", "van", "von", "jr", "sr"})


def fold(value: str) -> str:
    """Accent-free lower case with hyphens kept: "Millan-Vazquez" stays one surname."""
    value = unicodedata.normalize("NFKD", value.replace("’", "'"))
    value = "".join(ch for ch in value if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9'\-]+", " ", value).strip(" -")


def name_tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[\s\-]+", fold(name)) if t and t not in _NAME_PARTICLES]


def surname_tokens(name: str) -> set[str]:
    """The parts of a name after the first one, hyphenated parts split: "Millan-Vazquez" gives
    {"millan", "vazquez"}, so "Florencio Millan Vazquez" and "Millan-Vazquez" match."""
    words = [w for w in fold(name).split() if w not in _NAME_PARTICLES]
    rest = words[1:] if len(words) > 1 else words
    return {t for w in rest for t in w.split("-") if t and t not in _NAME_PARTICLES}


def surname_key(name: str | None) -> str | None:
    if not name:
        return None
    words = [w for w in fold(name).split() if w not in _NAME_PARTICLES]
    return words[-1] if words else None


def same_person(a: str, b: str) -> bool:
    """Whether two names can be one person: a shared surname, and first names that agree when
    both are given."""
    if not surname_tokens(a) & surname_tokens(b):
        return False
    wa, wb = fold(a).split(), fold(b).split()
    if len(wa) > 1 and len(wb) > 1:
        return wa[0] == wb[0] or (wa[0][:1] == wb[0][:1] and (len(wa[0]) <= 2 or len(wb[0]) <= 2))
    return True


def is_minor(age: int | None, description: str | None) -> bool:
    if age is not None:
        return age < 18
    return bool(description and _MINOR_WORDS.search(description))


def default_sensitivity(role: Role, minor: bool) -> Sensitivity:
    """Minors are always protected; people caught up in an encounter are restricted; people
    speaking or acting in an official capacity are public."""
    if minor:
        return Sensitivity.PROTECTED
    if role in (Role.OFFICIAL, Role.SPOKESPERSON, Role.JOURNALIST, Role.LAWYER):
        return Sensitivity.PUBLIC
    return Sensitivity.RESTRICTED


def add_person(
    session: Session,
    journal: Journal,
    *,
    name: str | None,
    description: str | None,
    age: int | None,
    count: int | None,
    role: Role,
    citation: Citation,
    sensitivity: Sensitivity | None = None,
) -> Person:
    minor = is_minor(age, description if name is None else None)
    person = Person(
        name=name,
        surname_key=surname_key(name),
        description=description,
        age=age,
        count=count,
        minor=minor,
        sensitivity=(sensitivity or default_sensitivity(role, minor)).value,
        created_at=ledger.utc_now(),
        created_by=journal.actor,
    )
    citation.apply(person)
    journal.add(session, person)
    journal.later(
        lambda: (
            "person.create",
            [f"person:{person.id}"],
            {
                "name": name,
                "description": description,
                "age": age,
                "count": count,
                "minor": minor,
                "sensitivity": person.sensitivity,
                "citation": citation.to_dict(),
            },
        )
    )
    return person


def add_alias(
    session: Session, journal: Journal, person: Person, alias: str, citation: Citation
) -> PersonAlias | None:
    clean = " ".join(alias.split())
    if not clean or (person.name and fold(person.name) == fold(clean)):
        return None
    if person.id is None:
        journal.flush(session)
    # The aliases this session knows for each person: read once, then kept up to date, so a
    # person named several ways costs one query, not one query and one flush per name.
    known: dict[int, set[str]] = session.info.setdefault(_ALIASES, {})
    if person.id not in known:
        known[person.id] = {
            fold(a)
            for a in session.scalars(
                select(PersonAlias.alias).where(PersonAlias.person_id == person.id)
            )
        }
    if fold(clean) in known[person.id]:
        return None
    known[person.id].add(fold(clean))
    row = PersonAlias(person_id=person.id, alias=clean)
    citation.apply(row)
    journal.add(session, row)
    journal.later(
        lambda: (
            "person.alias",
            [f"person:{person.id}", f"person_alias:{row.id}"],
            {"alias": clean, "citation": citation.to_dict()},
        )
    )
    return row


def add_role(
    session: Session,
    journal: Journal,
    *,
    incident_id: int,
    person: Person,
    role: Role,
    citation: Citation,
    detail: str | None = None,
    title: str | None = None,
    organization_id: int | None = None,
) -> PersonRole:
    if person.id is None:
        journal.flush(session)  # one flush gives every person added so far an id
    row = PersonRole(
        incident_id=incident_id,
        person_id=person.id,
        role=role.value,
        detail=detail,
        title=title,
        organization_id=organization_id,
    )
    citation.apply(row)
    journal.add(session, row)
    journal.later(
        lambda: (
            "person.role",
            [f"incident:{incident_id}", f"person:{person.id}", f"person_role:{row.id}"],
            {
                "role": role.value,
                "detail": detail,
                "title": title,
                "organization": organization_id,
                "citation": citation.to_dict(),
            },
        )
    )
    return row


def people_of_incident(session: Session, incident_id: int) -> list[Person]:
    ids = select(PersonRole.person_id).where(PersonRole.incident_id == incident_id)
    return list(session.scalars(select(Person).where(Person.id.in_(ids)).order_by(Person.id)))


def find_named(people: list[Person], name: str) -> Person | None:
    for person in people:
        if person.merged_into_id is None and person.name and same_person(person.name, name):
            return person
    return None


@dataclass(frozen=True)
class MergeResult:
    kept: int
    merged: int
    moved: dict[str, int]
    ledger_seq: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def merge_people(
    vault: Vault, keep_id: int, merge_id: int, *, actor: str, reason: str
) -> MergeResult:
    """Merge person ``merge_id`` into ``keep_id``; everything pointing at it moves over."""
    if keep_id == merge_id:
        raise UsageError("a person cannot be merged into itself")
    if not reason.strip():
        raise UsageError("say why the two records are one person (--reason)")
    with vault.transaction() as session:
        begin_records_write(session)
        keep = session.get(Person, keep_id)
        gone = session.get(Person, merge_id)
        if keep is None or gone is None:
            raise NotFoundError(f"there is no person {keep_id if keep is None else merge_id}")
        if keep.merged_into_id is not None or gone.merged_into_id is not None:
            raise UsageError("one of these people was already merged into another record")
        journal = Journal(actor)
        moved: dict[str, int] = {}
        for table in (PersonRole, PersonAlias, Quote, Event, LegalAction):
            result = session.execute(
                update(table).where(table.person_id == merge_id).values(person_id=keep_id)
            )
            moved[table.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
        if gone.name:
            row = PersonAlias(person_id=keep_id, alias=gone.name)
            Citation(gone.cite_source_id, gone.cite_item_id, gone.cite_start, gone.cite_end).apply(
                row
            )
            session.add(row)
        gone.merged_into_id = keep_id
        if keep.age is None and gone.age is not None:
            keep.age = gone.age
        if gone.minor and not keep.minor:
            keep.minor = True
            keep.sensitivity = Sensitivity.PROTECTED.value
        session.flush()
        journal.note(
            "person.merge",
            [f"person:{keep_id}", f"person:{merge_id}"],
            {"kept": keep_id, "merged": merge_id, "moved": moved, "reason": reason.strip()},
        )
        (entry,) = journal.append(session)
        return MergeResult(keep_id, merge_id, moved, entry.seq)


def create_person(
    vault: Vault,
    *,
    incident_id: int,
    name: str | None,
    role: str,
    actor: str,
    description: str | None = None,
    age: int | None = None,
    sensitivity: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Add a person to an incident by hand (a witness the articles do not name); ``reason``,
    when given, is ledgered beside the new record (``record.reason``)."""
    checked = check(Role, role, "role")
    level = check(Sensitivity, sensitivity, "sensitivity") if sensitivity else None
    if not (name or description):
        raise UsageError("a person needs a name or a description")
    from testigo.db.models import Incident

    with vault.transaction() as session:
        begin_records_write(session)
        if session.get(Incident, incident_id) is None:
            raise NotFoundError(f"there is no incident {incident_id}")
        journal = Journal(actor)
        person = add_person(
            session,
            journal,
            name=name,
            description=description,
            age=age,
            count=None,
            role=checked,
            citation=Citation(),
            sensitivity=level,
        )
        add_role(
            session,
            journal,
            incident_id=incident_id,
            person=person,
            role=checked,
            citation=Citation(),
        )
        if reason and reason.strip():
            journal.later(
                lambda: (
                    "record.reason",
                    [f"incident:{incident_id}", f"person:{person.id}"],
                    {"reason": reason.strip()},
                )
            )
        journal.append(session)
        return person_dict(session, person)


def person_dict(session: Session, person: Person, text: str | None = None) -> dict[str, Any]:
    aliases = list(
        session.scalars(select(PersonAlias.alias).where(PersonAlias.person_id == person.id))
    )
    return {
        "id": person.id,
        "name": person.name,
        "aliases": aliases,
        "description": person.description,
        "age": person.age,
        "count": person.count,
        "minor": person.minor,
        "sensitivity": person.sensitivity,
        "merged_into": person.merged_into_id,
        "citation": cited_dict(person, text),
    }
