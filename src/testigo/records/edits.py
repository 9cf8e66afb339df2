"""Hand edits of people, timeline events and legal actions, each field change a ledger entry.

Incidents are edited by :func:`testigo.records.incidents.update_incident`; these are the same for
the facts inside an incident. An edit names the incident it is made through, so a row of another
incident cannot be changed by accident, and carries a reason. All changed fields are written in one
transaction together with one ``person.edit``, ``event.edit`` or ``legal_action.edit`` entry per
field (``field``, ``from``, ``to``, ``reason``), so the row and its history change together or not
at all. The rows keep their citation: an edit corrects what a source was read to say, and the
ledger keeps both the old reading and who corrected it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.db.models import Incident
from testigo.errors import NotFoundError, RefusedInputError, UsageError
from testigo.records.journal import Journal, begin_records_write
from testigo.records.models import Event, LegalAction, Person, PersonRole
from testigo.records.people import is_minor, surname_key
from testigo.records.vocab import (
    EventKind,
    LegalActionKind,
    Sensitivity,
    TimePrecision,
    check,
)
from testigo.records.vocab import PersonRole as Role
from testigo.vault import ledger
from testigo.vault.service import Vault

MAX_REASON = 1000
_DATE = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class EditResult:
    """What an edit changed (field names, in order) and the row as it is now."""

    changed: list[str]
    record: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"changed": list(self.changed), "record": dict(self.record)}


def clean_reason(reason: str | None) -> str:
    clean = " ".join((reason or "").split())
    if not clean:
        raise UsageError("an edit needs a reason: say why the change is made (it is ledgered)")
    return clean[:MAX_REASON]


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str | None:
    if value is not None and not isinstance(value, str):
        raise RefusedInputError(f"{name} must be text")
    clean = " ".join((value or "").split()) or None
    if clean is None and required:
        raise RefusedInputError(f"{name} cannot be empty")
    if clean is not None and len(clean) > limit:
        raise RefusedInputError(f"{name} can have at most {limit} characters")
    return clean


def _date(value: Any, name: str) -> str | None:
    """A day, a month or a year (2025-11-04, 2025-11, 2025); anything else is refused."""
    clean = _text(value, name, 10)
    if clean is None:
        return None
    if not _DATE.match(clean):
        raise RefusedInputError(
            f"{name} must be a date: YYYY-MM-DD, YYYY-MM or YYYY (got {clean!r})"
        )
    parts = [int(p) for p in clean.split("-")] + [1, 1]
    try:
        dt.date(parts[0], parts[1], parts[2])
    except ValueError:
        raise RefusedInputError(f"{name} is not a real date: {clean}") from None
    return clean


def _clock(value: Any, name: str) -> str | None:
    clean = _text(value, name, 5)
    if clean is not None and not _CLOCK.match(clean):
        raise RefusedInputError(f"{name} must be a time of day as HH:MM (got {clean!r})")
    return clean


def _number(value: Any, name: str, *, whole: bool, low: float, high: float) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise RefusedInputError(f"{name} must be a number")
    try:
        number = int(value) if whole else float(value)
    except (TypeError, ValueError):
        raise RefusedInputError(f"{name} must be a number (got {value!r})") from None
    if whole and isinstance(value, float) and value != number:
        raise RefusedInputError(f"{name} must be a whole number")
    if not low <= number <= high:
        raise RefusedInputError(f"{name} must be between {low:g} and {high:g}")
    return number


def _flag(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RefusedInputError(f"{name} must be true, false or null (not stated)")


def _vocabulary(vocabulary: Any, value: Any, name: str, *, required: bool) -> str | None:
    clean = _text(value, name, 40, required=required)
    return None if clean is None else str(check(vocabulary, clean, name).value)


Cleaner = Callable[[Any], Any]

PERSON_FIELDS: dict[str, Cleaner] = {
    "name": lambda v: _text(v, "name", 300),
    "description": lambda v: _text(v, "description", 500),
    "age": lambda v: _number(v, "age", whole=True, low=0, high=130),
    "sensitivity": lambda v: _vocabulary(Sensitivity, v, "sensitivity", required=True),
    "role": lambda v: _vocabulary(Role, v, "role", required=True),
}
EVENT_FIELDS: dict[str, Cleaner] = {
    "kind": lambda v: _vocabulary(EventKind, v, "kind", required=True),
    "description": lambda v: _text(v, "description", 20_000, required=True),
    "occurred_on": lambda v: _date(v, "occurred_on"),
    "clock_time": lambda v: _clock(v, "clock_time"),
    "time_precision": lambda v: _vocabulary(TimePrecision, v, "time_precision", required=False),
    "media_offset": lambda v: _number(v, "media_offset", whole=False, low=0, high=1e7),
    "sequence": lambda v: _number(v, "sequence", whole=True, low=0, high=1e6),
}
LEGAL_FIELDS: dict[str, Cleaner] = {
    "kind": lambda v: _vocabulary(LegalActionKind, v, "kind", required=True),
    "description": lambda v: _text(v, "description", 20_000, required=True),
    "form": lambda v: _text(v, "form", 16),
    "issued_on": lambda v: _date(v, "issued_on"),
    "date_precision": lambda v: _vocabulary(TimePrecision, v, "date_precision", required=False),
    "issuer": lambda v: _text(v, "issuer", 300),
    "shown_to_subject": lambda v: _flag(v, "shown_to_subject"),
}
# Names in the API and the ledger that differ from the column they change.
LEGAL_COLUMNS = {"issuer": "issuer_wording"}


def _clean(changes: Mapping[str, Any], fields: Mapping[str, Cleaner], what: str) -> dict[str, Any]:
    unknown = [name for name in changes if name not in fields]
    if unknown:
        raise UsageError(
            f"{', '.join(unknown)} cannot be edited on {what}; fields: {', '.join(fields)}"
        )
    if "sequence" in changes and changes["sequence"] in (None, ""):
        raise RefusedInputError("sequence cannot be empty")
    return {name: fields[name](value) for name, value in changes.items()}


def _note(
    journal: Journal,
    entry_type: str,
    subjects: list[str],
    name: str,
    old: Any,
    new: Any,
    reason: str,
) -> None:
    journal.note(entry_type, subjects, {"field": name, "from": old, "to": new, "reason": reason})


def _incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError(f"there is no incident {incident_id}")
    return incident


def _finish(session: Session, journal: Journal, incident: Incident, changed: list[str]) -> None:
    """Append the entries and mark the incident changed (the search index follows it)."""
    if changed:
        incident.updated_at = ledger.utc_now()
        journal.append(session)
        session.flush()


def _apply(
    journal: Journal,
    entry_type: str,
    subjects: list[str],
    row: Any,
    new: Mapping[str, Any],
    why: str,
    columns: Mapping[str, str] | None = None,
) -> list[str]:
    """Set each field that differs (``columns`` maps a field to its column), noting each in the
    journal; returns the changed fields, in order."""
    changed: list[str] = []
    for name, value in new.items():
        column = (columns or {}).get(name, name)
        old = getattr(row, column)
        if value != old:
            _note(journal, entry_type, subjects, name, old, value, why)
            setattr(row, column, value)
            changed.append(name)
    return changed


def edit_person(
    vault: Vault,
    incident_id: int,
    person_id: int,
    changes: Mapping[str, Any],
    *,
    reason: str | None,
    actor: str,
) -> EditResult:
    """Correct a person of an incident: name, description, age, sensitivity, role there.

    The role is the person's part in this incident: every role row of the person in it takes
    the new value. A minor stays ``protected``: an age under 18 raises the sensitivity, and a
    request to lower it for a minor is refused.
    """
    why = clean_reason(reason)
    new = _clean(changes, PERSON_FIELDS, "a person")
    with vault.transaction() as session:
        begin_records_write(session)
        incident = _incident(session, incident_id)
        roles = list(
            session.scalars(
                select(PersonRole)
                .where(PersonRole.incident_id == incident_id, PersonRole.person_id == person_id)
                .order_by(PersonRole.id)
            )
        )
        person = session.get(Person, person_id)
        if person is None or not roles:
            raise NotFoundError(f"there is no person {person_id} in incident {incident_id}")
        if person.merged_into_id is not None:
            raise RefusedInputError(
                f"person {person_id} was merged into person {person.merged_into_id}: edit that one"
            )
        journal = Journal(actor)
        subjects = [f"incident:{incident_id}", f"person:{person_id}"]
        own: dict[str, Any] = {k: new[k] for k in ("name", "description", "age") if k in new}
        changed = _apply(journal, "person.edit", subjects, person, own, why)

        def put(name: str, old: Any, value: Any) -> None:
            _note(journal, "person.edit", subjects, name, old, value, why)
            changed.append(name)

        if person.name is None and person.description is None:
            raise RefusedInputError("a person needs a name or a description")
        person.surname_key = surname_key(person.name)
        minor = is_minor(person.age, person.description if person.name is None else None)
        if minor != person.minor:
            put("minor", person.minor, minor)
            person.minor = minor
        level = new.get("sensitivity", person.sensitivity)
        if person.minor and level != Sensitivity.PROTECTED.value:
            if "sensitivity" in new:
                raise RefusedInputError("a minor is always protected: sensitivity stays protected")
            level = Sensitivity.PROTECTED.value
        if level != person.sensitivity:
            put("sensitivity", person.sensitivity, level)
            person.sensitivity = level
        if "role" in new:
            old_roles = sorted({r.role for r in roles})
            if old_roles != [new["role"]]:
                put("role", old_roles[0] if len(old_roles) == 1 else old_roles, new["role"])
                for row in roles:
                    row.role = new["role"]
        _finish(session, journal, incident, changed)
        return EditResult(changed, _person_record(person, roles))


def _person_record(person: Person, roles: list[PersonRole]) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "description": person.description,
        "age": person.age,
        "minor": person.minor,
        "sensitivity": person.sensitivity,
        "roles": sorted({r.role for r in roles}),
    }


def edit_event(
    vault: Vault,
    incident_id: int,
    event_id: int,
    changes: Mapping[str, Any],
    *,
    reason: str | None,
    actor: str,
) -> EditResult:
    """Correct a timeline event: kind, description, day, clock time, offset, position."""
    why = clean_reason(reason)
    new = _clean(changes, EVENT_FIELDS, "an event")
    with vault.transaction() as session:
        begin_records_write(session)
        incident = _incident(session, incident_id)
        event = session.get(Event, event_id)
        if event is None or event.incident_id != incident_id:
            raise NotFoundError(f"there is no event {event_id} in incident {incident_id}")
        journal = Journal(actor)
        subjects = [f"incident:{incident_id}", f"event:{event_id}"]
        changed = _apply(journal, "event.edit", subjects, event, new, why)
        _finish(session, journal, incident, changed)
        return EditResult(changed, event_record(event))


def event_record(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "incident_id": event.incident_id,
        **{name: getattr(event, name) for name in EVENT_FIELDS},
    }


def edit_legal_action(
    vault: Vault,
    incident_id: int,
    action_id: int,
    changes: Mapping[str, Any],
    *,
    reason: str | None,
    actor: str,
) -> EditResult:
    """Correct a legal action: kind, description, form, date, issuer, whether it was shown."""
    why = clean_reason(reason)
    new = _clean(changes, LEGAL_FIELDS, "a legal action")
    with vault.transaction() as session:
        begin_records_write(session)
        incident = _incident(session, incident_id)
        action = session.get(LegalAction, action_id)
        if action is None or action.incident_id != incident_id:
            raise NotFoundError(f"there is no legal action {action_id} in incident {incident_id}")
        journal = Journal(actor)
        subjects = [f"incident:{incident_id}", f"legal_action:{action_id}"]
        changed = _apply(journal, "legal_action.edit", subjects, action, new, why, LEGAL_COLUMNS)
        if "shown_to_subject" in changed:
            # ``facts`` mirrors the value for the claims and exports that read it there.
            facts = {k: v for k, v in (action.facts or {}).items() if k != "shown_to_subject"}
            if action.shown_to_subject is not None:
                facts["shown_to_subject"] = action.shown_to_subject
            action.facts = facts
        _finish(session, journal, incident, changed)
        return EditResult(changed, legal_record(action))


def legal_record(action: LegalAction) -> dict[str, Any]:
    return {
        "id": action.id,
        "incident_id": action.incident_id,
        **{name: getattr(action, LEGAL_COLUMNS.get(name, name)) for name in LEGAL_FIELDS},
    }


# The editors by the kind of record (ledger entry types ``{kind}.edit``).
EDITORS = {"person": edit_person, "event": edit_event, "legal_action": edit_legal_action}
