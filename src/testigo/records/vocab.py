"""Controlled vocabularies for incident records, checked on every write.

Free text goes in descriptions; anything a search, a filter or a redaction rule depends on takes
one of these values, so "spokesman", "spokeswoman" and "press officer" are one role, and a public
export can rely on ``sensitivity`` and ``confidentiality`` meaning the same thing everywhere.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from testigo.errors import UsageError


class IncidentStatus(StrEnum):
    REPORTED = "reported"
    CORROBORATED = "corroborated"
    DISPUTED = "disputed"
    VERIFIED = "verified"


class Confidentiality(StrEnum):
    """Who may see an incident: ``public`` is shareable, ``confidential`` never leaves the team."""

    PUBLIC = "public"
    RESTRICTED = "restricted"
    CONFIDENTIAL = "confidential"


class Sensitivity(StrEnum):
    """How a person is shown outside the team: named, redacted on request, always redacted."""

    PUBLIC = "public"
    RESTRICTED = "restricted"
    PROTECTED = "protected"


class TimePrecision(StrEnum):
    EXACT = "exact"
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


class PlacePrecision(StrEnum):
    EXACT = "exact"
    STREET = "street"
    FACILITY = "facility"
    CITY = "city"
    COUNTY = "county"
    STATE = "state"
    COUNTRY = "country"


class PersonRole(StrEnum):
    SUBJECT = "subject"
    WITNESS = "witness"
    FAMILY = "family"
    OFFICER = "officer"
    OFFICIAL = "official"
    SPOKESPERSON = "spokesperson"
    JOURNALIST = "journalist"
    LAWYER = "lawyer"
    OTHER = "other"


class OrganizationKind(StrEnum):
    FEDERAL_DEPARTMENT = "federal_department"
    FEDERAL_AGENCY = "federal_agency"
    FEDERAL_COMPONENT = "federal_component"
    POLICE_DEPARTMENT = "police_department"
    SHERIFF = "sheriff"
    STATE_POLICE = "state_police"
    COURT = "court"
    MILITARY = "military"
    OTHER = "other"


class PlaceKind(StrEnum):
    CITY = "city"
    COUNTY = "county"
    STATE = "state"
    COUNTRY = "country"
    FACILITY = "facility"
    DETENTION_FACILITY = "detention_facility"
    ADDRESS = "address"


class PlaceRole(StrEnum):
    ENCOUNTER = "encounter"
    DETENTION = "detention"
    MENTIONED = "mentioned"


class LegalActionKind(StrEnum):
    JUDICIAL_WARRANT = "judicial_warrant"
    ADMINISTRATIVE_WARRANT = "administrative_warrant"
    WARRANT = "warrant"  # a warrant whose kind the source does not say
    DETAINER = "detainer"
    NOTICE_TO_APPEAR = "notice_to_appear"
    REMOVAL_ORDER = "removal_order"
    EXPEDITED_REMOVAL = "expedited_removal"
    REINSTATEMENT = "reinstatement_of_removal"
    REMOVAL_PROCEEDINGS = "removal_proceedings"
    BOND = "bond"
    CRIMINAL_CHARGE = "criminal_charge"
    CONVICTION = "conviction"
    IMMIGRATION_STATUS = "immigration_status"
    INVESTIGATION = "investigation"


# The usual forms behind each kind of document; recorded when the source names the form.
LEGAL_FORMS: dict[str, LegalActionKind] = {
    "I-200": LegalActionKind.ADMINISTRATIVE_WARRANT,
    "I-205": LegalActionKind.ADMINISTRATIVE_WARRANT,
    "I-247": LegalActionKind.DETAINER,
    "I-247A": LegalActionKind.DETAINER,
    "I-862": LegalActionKind.NOTICE_TO_APPEAR,
    "I-860": LegalActionKind.EXPEDITED_REMOVAL,
    "I-871": LegalActionKind.REINSTATEMENT,
}


class EventKind(StrEnum):
    APPROACH = "approach"
    DOCUMENT_REQUEST = "document_request"
    USE_OF_FORCE = "use_of_force"
    ARREST = "arrest"
    INJURY = "injury"
    TRANSPORT = "transport"
    DETENTION = "detention"
    RELEASE = "release"
    REMOVAL = "removal"
    ARRIVAL = "arrival"
    RECORDING = "recording"
    STATEMENT = "statement"
    OTHER = "other"


class SourceKind(StrEnum):
    ARTICLE = "article"
    OFFICIAL_STATEMENT = "official_statement"
    WITNESS_ACCOUNT = "witness_account"
    VIDEO = "video"
    COURT_RECORD = "court_record"


class QuoteMode(StrEnum):
    DIRECT = "direct"
    PARTIAL = "partial"
    REPORTED = "reported"


class Stance(StrEnum):
    """What a claim does to its key: states a value, or denies that value."""

    ASSERTS = "asserts"
    DISPUTES = "disputes"


class ClaimStatus(StrEnum):
    SINGLE = "single"
    CORROBORATED = "corroborated"
    CONTRADICTED = "contradicted"


E = TypeVar("E", bound=StrEnum)


def check(vocabulary: type[E], value: str | E, field: str) -> E:
    """The vocabulary member for ``value``, or a UsageError listing the allowed values."""
    try:
        return vocabulary(value)
    except ValueError:
        allowed = ", ".join(m.value for m in vocabulary)
        raise UsageError(f"{field} must be one of: {allowed} (got {value!r})") from None


def check_optional(vocabulary: type[E], value: str | E | None, field: str) -> E | None:
    return None if value is None else check(vocabulary, value, field)
