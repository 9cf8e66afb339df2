"""Organizations: agencies, departments, courts, seeded from the extractor's agency vocabulary.

Names are normalised through :func:`testigo.extract.agencies.normalize_agency`, so "ICE",
"Immigration and Customs Enforcement" and "U.S. Immigration and Customs Enforcement (ICE)" are
one row, and a city police department found in one article ("Kansas City police") is the same row
as "KCPD" in the next. Organizations are never edited or deleted, so their ids are remembered per
database (:mod:`testigo.records.lookups`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.errors import NotFoundError
from testigo.extract.agencies import AGENCIES, Agency, normalize_agency
from testigo.records.journal import Journal, begin_records_write
from testigo.records.lookups import has_all, lookup, remember
from testigo.records.models import Organization, OrganizationName
from testigo.records.vocab import OrganizationKind, check
from testigo.vault import ledger
from testigo.vault.service import Vault

_CACHE = "testigo.records.organizations"
_TABLE = "organizations"
_VOCABULARY_KEYS = [a.key for a in AGENCIES]


def _cache(session: Session) -> dict[str, Organization]:
    cache: dict[str, Organization] = session.info.setdefault(_CACHE, {})
    return cache


def _kind(value: str) -> OrganizationKind:
    try:
        return OrganizationKind(value)
    except ValueError:
        return OrganizationKind.OTHER


def ensure_vocabulary(session: Session, journal: Journal) -> None:
    """Create the fixed agencies (DHS, ICE with ERO and HSI, CBP with Border Patrol...) once."""
    cache = _cache(session)
    if "dhs" in cache or has_all(session, _TABLE, _VOCABULARY_KEYS):
        return
    existing = {o.key: o for o in session.scalars(select(Organization))}
    cache.update(existing)
    for key, org in existing.items():
        remember(session, _TABLE, key, org.id, created=False)
    if all(a.key in existing for a in AGENCIES):
        return
    for agency in AGENCIES:
        _create(session, journal, agency)


def _by_name(name: str) -> Agency | None:
    for agency in AGENCIES:
        if agency.name == name:
            return agency
    return normalize_agency(name)


def _create(session: Session, journal: Journal, agency: Agency) -> Organization:
    cache = _cache(session)
    found = cache.get(agency.key)
    if found is None:
        found = session.scalars(select(Organization).where(Organization.key == agency.key)).first()
    if found is not None:
        cache[agency.key] = found
        remember(session, _TABLE, agency.key, found.id, created=False)
        return found
    parent: Organization | None = None
    if agency.parent:
        parent_agency = _by_name(agency.parent)
        if parent_agency is not None and parent_agency.key != agency.key:
            parent = _create(session, journal, parent_agency)
    org = Organization(
        key=agency.key,
        name=agency.name,
        kind=_kind(agency.kind).value,
        parent_id=parent.id if parent else None,
        created_at=ledger.utc_now(),
    )
    session.add(org)
    session.flush()
    names = [(agency.name, False)]
    names += [(a, False) for a in agency.aliases if a != agency.name]
    names += [(a, True) for a in agency.abbreviations]
    session.add_all(
        OrganizationName(organization_id=org.id, name=n, abbreviation=abbr) for n, abbr in names
    )
    journal.note(
        "organization.create",
        [f"organization:{org.id}"],
        {
            "key": org.key,
            "name": org.name,
            "kind": org.kind,
            "parent": parent.key if parent else None,
            "names": [n for n, _ in names],
        },
    )
    cache[agency.key] = org
    remember(session, _TABLE, agency.key, org.id, created=True)
    return org


def organization_for(session: Session, journal: Journal, wording: str) -> Organization | None:
    """The organization a wording names, created on first use; None when it names no agency."""
    ensure_vocabulary(session, journal)
    agency = normalize_agency(wording)
    if agency is None:
        return None
    return _create(session, journal, agency)


def organization_id_for(session: Session, journal: Journal, wording: str) -> int | None:
    """The id of the organization a wording names (see :func:`organization_for`), without a
    query once the organization is known to this process."""
    agency = normalize_agency(wording)
    if agency is None:
        return None
    known: int | None = lookup(session, _TABLE, agency.key)
    if known is not None and has_all(session, _TABLE, _VOCABULARY_KEYS):
        return known
    ensure_vocabulary(session, journal)
    return _create(session, journal, agency).id


@dataclass(frozen=True)
class OrganizationView:
    id: int
    key: str
    name: str
    kind: str
    parent: str | None
    names: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def view(session: Session, org: Organization) -> OrganizationView:
    parent = session.get(Organization, org.parent_id) if org.parent_id else None
    names = list(
        session.scalars(
            select(OrganizationName.name)
            .where(OrganizationName.organization_id == org.id)
            .order_by(OrganizationName.id)
        )
    )
    return OrganizationView(
        org.id, org.key, org.name, org.kind, parent.name if parent else None, names
    )


def resolve_organization(vault: Vault, wording: str, *, actor: str) -> OrganizationView:
    """Normalise a name to its organization, creating (and ledgering) it on first use."""
    with vault.transaction() as session:
        begin_records_write(session)
        journal = Journal(actor)
        org = organization_for(session, journal, wording)
        if org is None:
            raise NotFoundError(f"{wording!r} does not name a known kind of agency")
        journal.append(session)
        return view(session, org)


def create_organization(
    vault: Vault, name: str, *, kind: str, parent: str | None = None, actor: str
) -> OrganizationView:
    """Add an organization the vocabulary does not know (a local task force, a consulate)."""
    checked = check(OrganizationKind, kind, "kind")
    clean = " ".join(name.split())
    if not clean:
        raise NotFoundError("an organization needs a name")
    known = normalize_agency(clean)
    key = known.key if known is not None else f"org:{clean.lower()}"
    with vault.transaction() as session:
        begin_records_write(session)
        journal = Journal(actor)
        ensure_vocabulary(session, journal)
        parent_name = None
        if parent:
            parent_org = organization_for(session, journal, parent)
            if parent_org is None:
                raise NotFoundError(f"there is no organization called {parent!r}")
            parent_name = parent_org.name
        org = _create(session, journal, Agency(key, clean, checked.value, (), parent_name))
        journal.append(session)
        return view(session, org)


def list_organizations(vault: Vault) -> list[OrganizationView]:
    with vault.reading() as session:
        return [
            view(session, o)
            for o in session.scalars(select(Organization).order_by(Organization.id))
        ]
