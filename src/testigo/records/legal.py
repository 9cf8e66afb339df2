"""Legal actions: warrants (judicial or administrative), detainers, notices to appear, removal
orders, expedited removal, reinstatement, bond, charges, with their dates, issuers and facts.

The facts that matter in court are kept as values, not prose: ``shown_to_subject`` is ``False``
when the source says the warrant was not shown, ``None`` when it does not say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from testigo.records.citations import Citation
from testigo.records.journal import Journal
from testigo.records.models import LegalAction
from testigo.records.vocab import LEGAL_FORMS, LegalActionKind

KIND_FROM_EXTRACTOR: dict[str, LegalActionKind] = {
    "warrant_administrative": LegalActionKind.ADMINISTRATIVE_WARRANT,
    "warrant_judicial": LegalActionKind.JUDICIAL_WARRANT,
    "warrant": LegalActionKind.WARRANT,
    "detainer": LegalActionKind.DETAINER,
    "expedited_removal": LegalActionKind.EXPEDITED_REMOVAL,
    "reinstatement": LegalActionKind.REINSTATEMENT,
    "removal_order": LegalActionKind.REMOVAL_ORDER,
    "proceedings": LegalActionKind.REMOVAL_PROCEEDINGS,
    "bond": LegalActionKind.BOND,
    "charge": LegalActionKind.CRIMINAL_CHARGE,
    "conviction": LegalActionKind.CONVICTION,
    "immigration_status": LegalActionKind.IMMIGRATION_STATUS,
    "investigation": LegalActionKind.INVESTIGATION,
    "notice_to_appear": LegalActionKind.NOTICE_TO_APPEAR,
}
WARRANTS = (
    LegalActionKind.WARRANT,
    LegalActionKind.JUDICIAL_WARRANT,
    LegalActionKind.ADMINISTRATIVE_WARRANT,
)

NOT_SHOWN = re.compile(
    r"\b(?:(?:would|will|did|do|does|could)\s*(?:not|n't|n’t)|never|refused\s+to|declined\s+to|"
    r"without)\s+(?:show(?:ing)?|present(?:ing)?|produc(?:e|ing))\b|"
    r"\bno\s+(?:one\s+)?(?:showed|presented|produced)\b|\bnot\s+shown\b|\bno\s+mostraron\b",
    re.IGNORECASE,
)
SHOWN = re.compile(
    r"\b(?:showed|presented|produced|handed)\s+(?:him|her|them|the\s+\w+\s+)?(?:\s*(?:an?|the))?\s*"
    r"(?:copy\s+of\s+the\s+)?(?:judicial\s+|administrative\s+)?warrant\b",
    re.IGNORECASE,
)
FORM = re.compile(r"\b(?:Form\s+)?(I-\d{3}[A-Z]?)\b")
YEAR = re.compile(r"\b(?:in|since|from|of)\s+((?:19|20)\d{2})\b")
ISSUER = re.compile(
    r"\bby\s+(?:an?\s+|the\s+)?((?:federal\s+|state\s+|county\s+)?(?:immigration\s+)?judge|"
    r"immigration\s+officials?|(?:ICE|CBP|DHS)(?:\s+officials?|\s+officers?)?|"
    r"(?:a\s+)?magistrate|(?:the\s+)?court)\b",
    re.IGNORECASE,
)
NOTICE_TO_APPEAR = re.compile(r"\b(?:notice\s+to\s+appear|NTA|I-862)\b", re.IGNORECASE)


@dataclass
class LegalDraft:
    kind: LegalActionKind
    description: str
    start: int
    end: int
    form: str | None = None
    issued_on: str | None = None
    date_precision: str | None = None
    issuer_wording: str | None = None
    shown_to_subject: bool | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def draft_from_fact(kind: str | None, sentence: str, start: int, end: int) -> LegalDraft | None:
    """Read one legal finding of the extractor into values: kind, form, year, issuer, shown."""
    mapped = KIND_FROM_EXTRACTOR.get(kind or "")
    if mapped is None:
        return None
    draft = LegalDraft(mapped, sentence, start, end)
    form = FORM.search(sentence)
    if form:
        draft.form = form.group(1).upper()
        draft.kind = LEGAL_FORMS.get(draft.form, mapped) if mapped in WARRANTS else mapped
    year = YEAR.search(sentence)
    if year:
        draft.issued_on, draft.date_precision = year.group(1), "year"
    issuer = ISSUER.search(sentence)
    if issuer:
        draft.issuer_wording = issuer.group(1)
    if draft.kind in WARRANTS:
        draft.facts["claimed_by_officers"] = True
        if NOT_SHOWN.search(sentence):
            draft.shown_to_subject = False
        elif SHOWN.search(sentence):
            draft.shown_to_subject = True
    if draft.shown_to_subject is not None:
        draft.facts["shown_to_subject"] = draft.shown_to_subject
    return draft


def issuer_agency_wording(issuer: str | None) -> str | None:
    """The agency an issuer wording points at: judges sit in immigration court (EOIR)."""
    if not issuer:
        return None
    low = issuer.lower()
    if "immigration judge" in low or low == "judge" or "federal immigration" in low:
        return "immigration court"
    if "immigration official" in low:
        return "ICE"
    for abbr in ("ICE", "CBP", "DHS"):
        if abbr in issuer:
            return abbr
    return None


def add_legal_action(
    session: Session,
    journal: Journal,
    *,
    incident_id: int,
    draft: LegalDraft,
    citation: Citation,
    person_id: int | None = None,
    issuer_organization_id: int | None = None,
) -> LegalAction:
    row = LegalAction(
        incident_id=incident_id,
        person_id=person_id,
        kind=draft.kind.value,
        form=draft.form,
        issued_on=draft.issued_on,
        date_precision=draft.date_precision,
        issuer_organization_id=issuer_organization_id,
        issuer_wording=draft.issuer_wording,
        shown_to_subject=draft.shown_to_subject,
        description=draft.description,
        facts=dict(draft.facts),
    )
    citation.apply(row)
    journal.add(session, row)
    journal.later(
        lambda: (
            "legal_action.create",
            [f"incident:{incident_id}", f"legal_action:{row.id}"]
            + ([f"person:{person_id}"] if person_id else []),
            {
                "kind": row.kind,
                "form": row.form,
                "issued_on": row.issued_on,
                "date_precision": row.date_precision,
                "issuer": row.issuer_wording,
                "issuer_organization": issuer_organization_id,
                "shown_to_subject": row.shown_to_subject,
                "facts": row.facts,
                "citation": citation.to_dict(),
            },
        )
    )
    return row


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence around a span, roughly: from the previous full stop or line break."""
    left = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start))
    right_candidates = [i for i in (text.find(". ", end), text.find("\n", end)) if i != -1]
    right = min(right_candidates) + 1 if right_candidates else len(text)
    return (left + 1 if left >= 0 else 0), right
