"""The controlled vocabulary of agencies, shared by the extractor and the incident records.

One organisation has one canonical name whatever the wording: "Tulsa police", "TPD" and
"Tulsa Police Department" are the same department. Fixed agencies live in :data:`AGENCIES`;
city police departments, county sheriffs, state police and courts are generated from patterns
("<City> police", "<Name> County Sheriff's Office", "<State> Highway Patrol").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from testigo.extract.places import US_STATE_NAMES, is_known_city


@dataclass(frozen=True)
class Agency:
    """One organisation. ``key`` is stable and is what two mentions are compared by."""

    key: str
    name: str
    kind: str
    abbreviations: tuple[str, ...] = ()
    parent: str | None = None
    aliases: tuple[str, ...] = field(default=(), compare=False)


def _a(
    key: str,
    name: str,
    kind: str,
    abbreviations: tuple[str, ...] = (),
    parent: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Agency:
    return Agency(key, name, kind, abbreviations, parent, aliases)


AGENCIES: tuple[Agency, ...] = (
    _a(
        "dhs",
        "U.S. Department of Homeland Security",
        "federal_department",
        ("DHS",),
        None,
        (
            "Department of Homeland Security",
            "Homeland Security Department",
            "Homeland Security",
            "Departamento de Seguridad Nacional",
            "Seguridad Nacional",
        ),
    ),
    _a(
        "ice",
        "U.S. Immigration and Customs Enforcement",
        "federal_agency",
        ("ICE",),
        "U.S. Department of Homeland Security",
        (
            "Immigration and Customs Enforcement",
            "Immigration & Customs Enforcement",
            "Servicio de Inmigración y Control de Aduanas",
            "Inmigración y Control de Aduanas",
            "Oficina de Inmigración y Control de Aduanas",
        ),
    ),
    _a(
        "ero",
        "ICE Enforcement and Removal Operations",
        "federal_component",
        ("ERO",),
        "U.S. Immigration and Customs Enforcement",
        ("Enforcement and Removal Operations",),
    ),
    _a(
        "hsi",
        "Homeland Security Investigations",
        "federal_component",
        ("HSI",),
        "U.S. Immigration and Customs Enforcement",
        (),
    ),
    _a(
        "cbp",
        "U.S. Customs and Border Protection",
        "federal_agency",
        ("CBP",),
        "U.S. Department of Homeland Security",
        (
            "Customs and Border Protection",
            "Oficina de Aduanas y Protección Fronteriza",
            "Aduanas y Protección Fronteriza",
        ),
    ),
    _a(
        "usbp",
        "U.S. Border Patrol",
        "federal_component",
        ("USBP",),
        "U.S. Customs and Border Protection",
        ("Border Patrol", "Patrulla Fronteriza"),
    ),
    _a(
        "ofo",
        "CBP Office of Field Operations",
        "federal_component",
        ("OFO",),
        "U.S. Customs and Border Protection",
        ("Office of Field Operations",),
    ),
    _a(
        "uscis",
        "U.S. Citizenship and Immigration Services",
        "federal_agency",
        ("USCIS",),
        "U.S. Department of Homeland Security",
        ("Citizenship and Immigration Services",),
    ),
    _a(
        "fps",
        "Federal Protective Service",
        "federal_agency",
        ("FPS",),
        "U.S. Department of Homeland Security",
        (),
    ),
    _a(
        "tsa",
        "Transportation Security Administration",
        "federal_agency",
        ("TSA",),
        "U.S. Department of Homeland Security",
        (),
    ),
    _a(
        "uscg",
        "U.S. Coast Guard",
        "federal_agency",
        ("USCG",),
        "U.S. Department of Homeland Security",
        ("Coast Guard", "Guardia Costera"),
    ),
    _a("ins", "Immigration and Naturalization Service", "federal_agency", ("INS",), None, ()),
    _a(
        "doj",
        "U.S. Department of Justice",
        "federal_department",
        ("DOJ",),
        None,
        ("Department of Justice", "Justice Department", "Departamento de Justicia"),
    ),
    _a(
        "fbi",
        "Federal Bureau of Investigation",
        "federal_agency",
        ("FBI",),
        "U.S. Department of Justice",
        ("Buró Federal de Investigaciones",),
    ),
    _a(
        "dea",
        "Drug Enforcement Administration",
        "federal_agency",
        ("DEA",),
        "U.S. Department of Justice",
        (),
    ),
    _a(
        "atf",
        "Bureau of Alcohol, Tobacco, Firearms and Explosives",
        "federal_agency",
        ("ATF",),
        "U.S. Department of Justice",
        (),
    ),
    _a(
        "usms",
        "U.S. Marshals Service",
        "federal_agency",
        ("USMS",),
        "U.S. Department of Justice",
        ("Marshals Service", "U.S. Marshals", "US Marshals"),
    ),
    _a(
        "bop",
        "Federal Bureau of Prisons",
        "federal_agency",
        ("BOP",),
        "U.S. Department of Justice",
        ("Bureau of Prisons",),
    ),
    _a(
        "eoir",
        "Executive Office for Immigration Review",
        "court",
        ("EOIR",),
        "U.S. Department of Justice",
        ("immigration court", "corte de inmigración", "tribunal de inmigración"),
    ),
    _a(
        "bia",
        "Board of Immigration Appeals",
        "court",
        ("BIA",),
        "Executive Office for Immigration Review",
        (),
    ),
    _a(
        "scotus",
        "U.S. Supreme Court",
        "court",
        ("SCOTUS",),
        None,
        ("Supreme Court of the United States", "Corte Suprema"),
    ),
    _a(
        "secret-service",
        "U.S. Secret Service",
        "federal_agency",
        ("USSS",),
        "U.S. Department of Homeland Security",
        ("Secret Service",),
    ),
    _a("national-guard", "National Guard", "military", (), None, ("Guardia Nacional",)),
    _a(
        "capitol-police",
        "U.S. Capitol Police",
        "police_department",
        ("USCP",),
        None,
        ("Capitol Police",),
    ),
    _a(
        "nypd",
        "New York City Police Department",
        "police_department",
        ("NYPD",),
        None,
        ("New York Police Department", "New York police", "New York City police"),
    ),
    _a("lapd", "Los Angeles Police Department", "police_department", ("LAPD",), None, ()),
    _a("lasd", "Los Angeles County Sheriff's Department", "sheriff", ("LASD",), None, ()),
    _a("chp", "California Highway Patrol", "state_police", ("CHP",), None, ()),
    _a(
        "dps-tx",
        "Texas Department of Public Safety",
        "state_police",
        ("DPS",),
        None,
        ("Texas DPS",),
    ),
)

_BY_KEY: dict[str, Agency] = {a.key: a for a in AGENCIES}

_COUNTY_KINDS = (
    "Sheriff's Office",
    "Sheriff's Department",
    "Sheriff’s Office",
    "Sheriff’s Department",
)


def _fold(value: str) -> str:
    """Lower case, no accents, no punctuation, single spaces, no leading "the"/"U.S."."""
    value = unicodedata.normalize("NFKD", value)
    value = "".join(ch for ch in value if not unicodedata.combining(ch))
    value = value.replace("’", "'").lower()
    value = re.sub(r"\bu\.\s?s\.|\bus\b|\bunited states\b", " ", value)
    value = re.sub(r"[^a-z0-9& ]+", " ", value)
    value = re.sub(r"\s+", " ", value).strip()
    value = re.sub(r"^(?:the|la|el|los|las) ", "", value)
    return value


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, Agency]:
    index: dict[str, Agency] = {}
    for agency in AGENCIES:
        for alias in (agency.name, *agency.aliases):
            index[_fold(alias)] = agency
    return index


@lru_cache(maxsize=1)
def _abbreviation_index() -> dict[str, Agency]:
    return {abbr: agency for agency in AGENCIES for abbr in agency.abbreviations}


def city_police(city: str) -> Agency:
    """The police department of a city, with its usual abbreviation ("Tulsa" -> "TPD")."""
    city = " ".join(w[:1].upper() + w[1:] for w in city.split())
    initials = "".join(w[0] for w in city.split() if w[:1].isalpha()).upper()
    return Agency(
        key=f"police:{_fold(city)}",
        name=f"{city} Police Department",
        kind="police_department",
        abbreviations=(f"{initials}PD",) if initials else (),
        parent=None,
    )


def county_sheriff(county: str, wording: str = "Sheriff's Office") -> Agency:
    """A county sheriff; the name keeps the text's own wording (Office or Department)."""
    county = re.sub(r"\s+County$", "", county.strip())
    wording = wording.replace("’", "'")
    return Agency(
        key=f"sheriff:{_fold(county)}",
        name=f"{county} County {wording}",
        kind="sheriff",
    )


def state_police(state: str, wording: str = "State Police") -> Agency:
    """A state's police or another state agency ("Ohio State Highway Patrol", "Florida
    Department of Law Enforcement"); all names of a state's police share one key."""
    wording = " ".join(
        w if w.lower() in ("of", "and", "the") else w[:1].upper() + w[1:] for w in wording.split()
    )
    wording = re.sub(r"\b(Of|And|The)\b", lambda m: m.group(1).lower(), wording)
    if re.search(r"police|patrol", wording, re.IGNORECASE):
        return Agency(
            key=f"state-police:{_fold(state)}", name=f"{state} {wording}", kind="state_police"
        )
    return Agency(
        key=f"state:{_fold(state)}:{_fold(wording)}",
        name=f"{state} {wording}",
        kind="state_agency",
    )


def court(name: str) -> Agency:
    return Agency(key=f"court:{_fold(name)}", name=name, kind="court")


_POLICE_RE = re.compile(
    r"^(?P<city>.+?)\s+(?:police(?:\s+department|\s+dept)?|pd)$|"
    r"^(?:departamento\s+de\s+)?polic[ií]a\s+(?:de|del)\s+(?P<city2>.+)$",
    re.IGNORECASE,
)
_SHERIFF_RE = re.compile(
    r"^(?P<county>.+?)\s+county\s+sheriff(?:'s|’s)?(?:\s+(?P<kind>office|department))?$|"
    r"^oficina\s+del\s+(?:sheriff|alguacil)\s+del\s+condado\s+(?:de\s+)?(?P<county2>.+)$",
    re.IGNORECASE,
)
_STATE_POLICE_RE = re.compile(
    r"^(?P<state>.+?)\s+(?P<kind>state\s+police|(?:state\s+)?highway\s+patrol|state\s+patrol|"
    r"department\s+of\s+(?:public\s+safety|law\s+enforcement|corrections|criminal\s+justice)|"
    r"bureau\s+of\s+investigation|attorney\s+general['’]s\s+office)$",
    re.IGNORECASE,
)
_COURT_RE = re.compile(r"\b(?:court|tribunal|corte)\b", re.IGNORECASE)


def _strip(name: str) -> str:
    name = name.strip().strip(".,;:\"'“”‘’()")
    name = re.sub(r"^(?:the|a|an)\s+", "", name, flags=re.IGNORECASE)
    name = re.sub(r"^(?:U\.\s?S\.|US)\s+", "", name)
    return name.strip()


def normalize_agency(name: str) -> Agency | None:
    """Map any wording of an agency to its vocabulary entry; ``None`` when it is not an agency.

    Accepts "ICE", "U.S. Immigration and Customs Enforcement (ICE)", "Tulsa police",
    "TPD" (for departments in the table or generated by :func:`city_police`),
    "Pima County Sheriff's Department", "Texas Highway Patrol", "U.S. District Court ...".
    """
    if not name or len(name) > 200:
        return None
    paren = re.match(r"^(.*?)\s*\(([^()]{2,60})\)\s*$", name.strip())
    if paren:
        return normalize_agency(paren.group(1)) or normalize_agency(paren.group(2))
    cleaned = _strip(name)
    if not cleaned:
        return None
    abbr = _abbreviation_index().get(cleaned.upper().replace(".", ""))
    if abbr is not None and cleaned.replace(".", "").isupper():
        return abbr
    folded = _fold(cleaned)
    hit = _alias_index().get(folded)
    if hit is not None:
        return hit
    m = _SHERIFF_RE.match(cleaned)
    if m:
        county = m.group("county") or m.group("county2")
        kind = (m.group("kind") or "office").title()
        return county_sheriff(county.strip(), f"Sheriff's {kind}")
    m = _STATE_POLICE_RE.match(cleaned)
    if m and m.group("state").strip().title() in US_STATE_NAMES:
        return state_police(m.group("state").strip().title(), m.group("kind").title())
    m = _POLICE_RE.match(cleaned)
    if m:
        city = (m.group("city") or m.group("city2") or "").strip()
        if city and (city[:1].isupper() or is_known_city(city)) and _fold(city) not in _NOT_CITIES:
            return city_police(city)
    m = re.fullmatch(r"([A-Z]{1,4})PD", cleaned)
    if m:
        return None  # an unknown department abbreviation: only the text can say which city
    if _COURT_RE.search(cleaned) and cleaned[:1].isupper():
        return court(cleaned)
    return None


_NOT_CITIES = frozenset(
    {
        "local",
        "state",
        "federal",
        "city",
        "county",
        "military",
        "border",
        "secret",
        "tribal",
        "campus",
        "transit",
        "university",
        "school",
        "military police",
        "the",
        "some",
        "other",
        "many",
        "several",
        "two",
        "three",
        "off duty",
        "undercover",
        "uniformed",
        "plainclothes",
    }
)


def agency_by_key(key: str) -> Agency | None:
    return _BY_KEY.get(key)


def canonical_key(name: str) -> str:
    """Comparison key for an agency name: its vocabulary key, or the folded wording."""
    agency = normalize_agency(name)
    return agency.key if agency else _fold(name)
