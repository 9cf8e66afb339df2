"""Claims: extracted facts as comparable (key, value) pairs, and how accounts of them compare.

Each source contributes its own claims; nothing a later source says overwrites an earlier one.
Claims with the same key are compared:

* two claims *agree* when they have the same value and the same stance;
* two claims *conflict* when they come from different accounts (a source's narration, or one
  speaker quoted in it) and either assert different values, or one asserts what the other
  disputes;
* a claim is ``contradicted`` when any other account conflicts with it, ``corroborated`` when an
  independent source (another outlet) agrees with it and none conflicts, ``single`` otherwise.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session

from testigo.db.models import Incident
from testigo.records.citations import Citation
from testigo.records.journal import Journal
from testigo.records.models import Claim, Source
from testigo.records.places import fold
from testigo.records.vocab import ClaimStatus, IncidentStatus, Stance

DENIAL = re.compile(
    r"\b(?:FALSE|false|untrue|not\s+true|lies|lying|a\s+lie|fabricat(?:ed|ion)|baseless|"
    r"categorically|den(?:y|ies|ied)|never\s+happened|misleading|no\s+(?:physical\s+)?force|"
    r"falso|mentira)\b"
)
TOPICS: list[tuple[str, re.Pattern[str]]] = [
    ("use_of_force", re.compile(
        r"\b(?:force|forcibly|physical(?:ly)?|beat(?:en|ing)?|chok(?:ed|ing)|punch(?:ed)?|"
        r"kick(?:ed)?|hit|dragg?(?:ed|ing)|broke|smash(?:ed)?|window|ground|assault(?:ed)?|"
        r"rammed|golpe(?:ó|aron)?)\b", re.I)),
    ("warrant.shown", re.compile(r"\bwarrant\b", re.I)),
    ("injury", re.compile(r"\b(?:injur(?:y|ies|ed)|hurt|seizure|bleeding|hospital)\b", re.I)),
]  # fmt: skip

KEY_FACTS = (
    "incident_date",
    "location.city",
    "use_of_force",
    "detention_facility",
    "warrant.",
    "event:",
    "subject.age:",
    "legal:",
)


@dataclass
class ClaimDraft:
    key: str
    value: Any
    start: int | None
    end: int | None
    stance: Stance = Stance.ASSERTS
    speaker: str | None = None
    organization_id: int | None = None
    quote_index: int | None = None


def encode(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def quote_claim(
    quote_text: str, context: str, *, start: int, end: int, speaker: str | None
) -> ClaimDraft | None:
    """A quote that affirms or denies something checkable becomes a claim with that stance.

    The topic comes from the quote, else from its sentence ("Claims that he was beaten are
    'FALSE'"); a quote with neither a topic nor a denial is kept as a quote only.
    """
    denial = DENIAL.search(quote_text) is not None
    topic = next((k for k, p in TOPICS if p.search(quote_text)), None)
    if topic is None and denial:
        topic = next((k for k, p in TOPICS if p.search(context)), "account")
    if topic is None:
        return None
    if topic == "warrant.shown":
        # "We showed him the warrant" / "they never showed a warrant": the value is "shown".
        return ClaimDraft(
            topic, True, start, end, Stance.DISPUTES if denial else Stance.ASSERTS, speaker
        )
    return ClaimDraft(
        topic, True, start, end, Stance.DISPUTES if denial else Stance.ASSERTS, speaker
    )


def add_claims(
    session: Session,
    journal: Journal,
    *,
    incident_id: int,
    source: Source,
    drafts: list[ClaimDraft],
    quote_ids: dict[int, int],
) -> list[Claim]:
    rows: list[Claim] = []
    seen: set[tuple[str, str, str, str | None]] = set()
    for draft in drafts:
        value = encode(draft.value)
        marker = (draft.key, value, draft.stance.value, draft.speaker)
        if marker in seen:
            continue
        seen.add(marker)
        row = Claim(
            incident_id=incident_id,
            source_id=source.id,
            quote_id=quote_ids.get(draft.quote_index) if draft.quote_index is not None else None,
            key=draft.key[:200],
            value=value,
            stance=draft.stance.value,
            speaker=draft.speaker,
            organization_id=draft.organization_id,
            status=ClaimStatus.SINGLE.value,
        )
        Citation(source.id, source.text_item_id, draft.start, draft.end).apply(row)
        rows.append(row)
    for row in rows:
        journal.add(session, row)
    journal.flush(session)
    for row in rows:
        journal.note(
            "claim.create",
            [f"incident:{incident_id}", f"claim:{row.id}", f"source:{source.id}"],
            {
                "key": row.key,
                "value": json.loads(row.value),
                "stance": row.stance,
                "speaker": row.speaker,
                "quote": row.quote_id,
                "citation": {"source": source.id, "item": source.text_item_id,
                             "start": row.cite_start, "end": row.cite_end},
            },
        )  # fmt: skip
    return rows


def _account(claim: Claim) -> tuple[int, str]:
    return (claim.source_id, fold(claim.speaker) if claim.speaker else "")


def _conflict(a: Claim, b: Claim) -> bool:
    if _account(a) == _account(b):
        return False
    if a.value == b.value:
        return a.stance != b.stance
    return a.stance == Stance.ASSERTS.value and b.stance == Stance.ASSERTS.value


def source_groups(session: Session, incident_id: int) -> dict[int, str]:
    """Sources from the same outlet are one voice: corroboration needs a different outlet."""
    groups: dict[int, str] = {}
    for source in session.scalars(select(Source).where(Source.incident_id == incident_id)):
        groups[source.id] = fold(source.outlet) if source.outlet else f"source:{source.id}"
    return groups


def assess(
    session: Session,
    journal: Journal,
    incident_id: int,
    *,
    written: tuple[Source, list[Claim]] | None = None,
) -> dict[str, int]:
    """Recompute every claim's status for an incident, then the incident's own status.

    ``written``: the incident was created in this transaction, and this source and its claims
    are all it has, so they are compared as they are instead of being read back.
    """
    if written is not None:
        source, rows = written
        groups = {source.id: fold(source.outlet) if source.outlet else f"source:{source.id}"}
        claims_in_order = sorted(rows, key=lambda c: c.id)
    else:
        groups = source_groups(session, incident_id)
        claims_in_order = list(
            session.scalars(
                select(Claim).where(Claim.incident_id == incident_id).order_by(Claim.id)
            )
        )
    by_key: dict[str, list[Claim]] = {}
    for claim in claims_in_order:
        by_key.setdefault(claim.key, []).append(claim)
    changed: dict[str, str] = {}
    counts = {s.value: 0 for s in ClaimStatus}
    for claims in by_key.values():
        for claim in claims:
            others = [c for c in claims if c.id != claim.id]
            if any(_conflict(claim, o) for o in others):
                status = ClaimStatus.CONTRADICTED
            elif any(
                o.value == claim.value
                and o.stance == claim.stance
                and groups.get(o.source_id) != groups.get(claim.source_id)
                for o in others
            ):
                status = ClaimStatus.CORROBORATED
            else:
                status = ClaimStatus.SINGLE
            counts[status.value] += 1
            if claim.status != status.value:
                claim.status = status.value
                changed[str(claim.id)] = status.value
    if written is not None:
        # Rows written in bulk are not in the session: their new statuses are written here.
        updates = [
            {"id": c.id, "status": c.status}
            for c in written[1]
            if str(c.id) in changed and inspect(c).transient
        ]
        if updates:
            session.execute(update(Claim), updates)
    if changed:
        journal.note(
            "claim.assess",
            [f"incident:{incident_id}", *(f"claim:{c}" for c in changed)],
            {"statuses": changed},
        )
    _incident_status(session, journal, incident_id, by_key)
    return counts


def _incident_status(
    session: Session, journal: Journal, incident_id: int, by_key: dict[str, list[Claim]]
) -> None:
    incident = session.get(Incident, incident_id)
    if incident is None or incident.status == IncidentStatus.VERIFIED.value:
        return
    all_claims = [c for claims in by_key.values() for c in claims]
    if any(c.status == ClaimStatus.CONTRADICTED.value for c in all_claims):
        new = IncidentStatus.DISPUTED
    elif any(
        c.status == ClaimStatus.CORROBORATED.value and c.key.startswith(KEY_FACTS)
        for c in all_claims
    ):
        new = IncidentStatus.CORROBORATED
    else:
        new = IncidentStatus.REPORTED
    if incident.status != new.value:
        journal.note(
            "incident.status",
            [f"incident:{incident_id}"],
            {"from": incident.status, "to": new.value, "reason": "claims compared across sources"},
        )
        incident.status = new.value
