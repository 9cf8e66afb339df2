"""Timeline events: what happened, when (a day, a clock time, or minutes into the recording),
who did it, and what kind of step it was (approach, document request, use of force, arrest...)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from testigo.records.citations import Citation
from testigo.records.journal import Journal
from testigo.records.models import Event
from testigo.records.vocab import EventKind

# Checked in order: the first pattern that matches a sentence names its kind.
KIND_PATTERNS: list[tuple[EventKind, re.Pattern[str]]] = [
    (EventKind.DOCUMENT_REQUEST, re.compile(
        r"\b(?:ask(?:ed|ing)?|demand(?:ed|ing)?|request(?:ed|ing)?)\b[^.]{0,40}\b(?:documents?|"
        r"documentation|papers|ID|identification|license|pasaporte|documentos)\b|"
        r"\b(?:ha[sd]|have|show(?:ed)?|present(?:ed)?)\s+(?:\w+\s+){0,2}(?:an?\s+)?"
        r"(?:\w+\s+)?warrant\b", re.I)),
    (EventKind.INJURY, re.compile(
        r"\b(?:suffered|injur(?:ed|ies|y)|cuts|bruis(?:es|ed)|bleeding|hospitali[sz]ed|"
        r"blacked\s+out|lost\s+consciousness|seizure)\b", re.I)),
    (EventKind.USE_OF_FORCE, re.compile(
        r"\b(?:broke|smash(?:ed)?|shatter(?:ed)?|dragg?ed|threw|thrown|slamm?ed|pinned|tackled|"
        r"chok(?:ed|ing)|beat(?:en)?|punched|kicked|shoved|pushed|tased|pepper[\s-]spray(?:ed)?|"
        r"pulled\s+(?:him|her|them)\s+out|to\s+the\s+ground|onto\s+the\s+ground|rammed|"
        r"physically\s+remov(?:ed|ing))\b", re.I)),
    (EventKind.TRANSPORT, re.compile(
        r"\b(?:transported|taken\s+to|drove\s+(?:him|her|them)\s+(?:away|to)|transferred|"
        r"put\s+(?:him|her|them)\s+in(?:to)?\s+(?:a|the)\s+(?:van|vehicle|car|SUV))\b", re.I)),
    (EventKind.DETENTION, re.compile(
        r"\b(?:(?:being\s+)?held\s+(?:at|by|in)|jailed|booked|detention\s+(?:center|facility)|"
        r"remains\s+in\s+custody)\b", re.I)),
    (EventKind.ARREST, re.compile(
        r"\b(?:arrested|handcuff(?:ed|ing)|cuffed|took\s+\w+\s+into\s+custody|taken\s+into\s+"
        r"custody|detained|apprehended|make\s+the\s+arrest)\b", re.I)),
    (EventKind.APPROACH, re.compile(
        r"\b(?:approach(?:ed|es)|stopp?ed|pulled\s+over|boxed\s+in|surrounded|knocked)\b", re.I)),
    (EventKind.ARRIVAL, re.compile(r"\b(?:arrived|came\s+to|responded|back\s+up)\b", re.I)),
    (EventKind.RECORDING, re.compile(
        r"\b(?:record(?:ed|ing)|film(?:ed|ing)|stream(?:ed|ing)|live\s*stream|Facebook\s+Live)\b",
        re.I)),
    (EventKind.RELEASE, re.compile(r"\b(?:released|let\s+go|freed)\b", re.I)),
    (EventKind.REMOVAL, re.compile(r"\b(?:deported|removed\s+to|sent\s+back)\b", re.I)),
    (EventKind.STATEMENT, re.compile(r"\b(?:said|told|statement|stated)\b", re.I)),
]  # fmt: skip

STATEMENT = re.compile(
    r"(?:[\"“”][^\"“”]{3,}[\"“”]\s*,?\s*\w+(?:\s+\w+)?\s+(?:said|told|added|wrote))|"
    r"\b(?:said|told|added)\s+(?:in\s+a\s+statement|\w+\s+News|the\s+\w+)\b|"
    r"\bspokes(?:man|woman|person)\b[^.]{0,80}\b(?:said|told)\b",
    re.IGNORECASE,
)
CLOCK = re.compile(
    r"\b(?:at|around|about|shortly\s+(?:before|after))\s+(\d{1,2})(?::(\d{2}))?\s*"
    r"(a\.?m\.?|p\.?m\.?)(?=\W|$)",
    re.IGNORECASE,
)
OFFSET = re.compile(
    r"\b(?:after|about|around|nearly|some)\s+(?:about\s+|around\s+|nearly\s+)?(\d{1,3})\s+"
    r"minutes?\s+(?:of|into)\s+(?:the\s+)?(?:recording|video|livestream|stream|footage)\b",
    re.IGNORECASE,
)


def classify(sentence: str, extractor_kind: str | None) -> EventKind:
    """The event kind of a sentence; statements about the encounter are told apart from it."""
    if STATEMENT.search(sentence):
        # "The spokesperson said the officer broke the window" is a statement, not the breaking.
        force = KIND_PATTERNS[2][1].search(sentence)
        if not force or sentence.lstrip().startswith(('"', "“")) or "statement" in sentence:
            return EventKind.STATEMENT
    for kind, pattern in KIND_PATTERNS:
        if pattern.search(sentence):
            return kind
    return EventKind.USE_OF_FORCE if extractor_kind == "force" else EventKind.OTHER


@dataclass(frozen=True)
class When:
    clock_time: str | None
    media_offset: float | None


def when(sentence: str) -> When:
    clock = CLOCK.search(sentence)
    clock_time = None
    if clock:
        hour = int(clock.group(1)) % 12
        if clock.group(3).lower().startswith("p"):
            hour += 12
        clock_time = f"{hour:02d}:{int(clock.group(2) or 0):02d}"
    offset = OFFSET.search(sentence)
    return When(clock_time, float(int(offset.group(1)) * 60) if offset else None)


def add_event(
    session: Session,
    journal: Journal,
    *,
    incident_id: int,
    kind: EventKind,
    description: str,
    citation: Citation,
    sequence: int,
    occurred_on: str | None = None,
    time_precision: str | None = None,
    person_id: int | None = None,
    organization_id: int | None = None,
) -> Event:
    moment = when(description)
    row = Event(
        incident_id=incident_id,
        kind=kind.value,
        description=description,
        occurred_on=occurred_on,
        clock_time=moment.clock_time,
        time_precision="exact" if moment.clock_time and occurred_on else time_precision,
        media_offset=moment.media_offset,
        sequence=sequence,
        person_id=person_id,
        organization_id=organization_id,
    )
    citation.apply(row)
    journal.add(session, row)
    journal.later(
        lambda: (
            "event.create",
            [f"incident:{incident_id}", f"event:{row.id}"],
            {
                "kind": row.kind,
                "description": description,
                "occurred_on": occurred_on,
                "clock_time": row.clock_time,
                "media_offset": row.media_offset,
                "sequence": sequence,
                "person": person_id,
                "organization": organization_id,
                "citation": citation.to_dict(),
            },
        )
    )
    return row
