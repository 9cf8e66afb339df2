from __future__ import annotations

import pytest

from testigo.extract import AGENCIES, normalize_agency, resolve_place
from testigo.extract.agency_finder import find_agencies
from testigo.extract.places import US_STATES, state_code


@pytest.mark.parametrize(
    ("wording", "key"),
    [
        ("ICE", "ice"),
        ("U.S. Immigration and Customs Enforcement (ICE)", "ice"),
        ("Immigration and Customs Enforcement", "ice"),
        ("Servicio de Inmigración y Control de Aduanas", "ice"),
        ("Enforcement and Removal Operations", "ero"),
        ("HSI", "hsi"),
        ("Border Patrol", "usbp"),
        ("the U.S. Border Patrol", "usbp"),
        ("Patrulla Fronteriza", "usbp"),
        ("CBP", "cbp"),
        ("Department of Homeland Security", "dhs"),
        ("Tulsa police", "police:tulsa"),
        ("Tulsa Police Department", "police:tulsa"),
        ("Policía de Santa Ana", "police:santa ana"),
        ("Pima County Sheriff's Department", "sheriff:pima"),
        ("Pima County Sheriff's Office", "sheriff:pima"),
        ("Ohio State Highway Patrol", "state-police:ohio"),
        ("Oregon State Police", "state-police:oregon"),
        ("U.S. District Court for the Western District of Texas", None),
    ],
)
def test_normalize_agency(wording: str, key: str | None) -> None:
    agency = normalize_agency(wording)
    assert agency is not None
    if key is not None:
        assert agency.key == key


@pytest.mark.parametrize("wording", ["", "Facebook", "Channel 9 News", "the man", "State police"])
def test_not_agencies(wording: str) -> None:
    assert normalize_agency(wording) is None


def test_table_is_consistent() -> None:
    names = {a.name for a in AGENCIES}
    keys = [a.key for a in AGENCIES]
    assert len(keys) == len(set(keys))
    for agency in AGENCIES:
        assert agency.parent is None or agency.parent in names
        assert agency.kind
    ice = normalize_agency("ICE")
    assert ice is not None and ice.parent == "U.S. Department of Homeland Security"
    ero = normalize_agency("ERO")
    assert ero is not None and ero.parent == ice.name
    usbp = normalize_agency("Border Patrol")
    assert usbp is not None and usbp.parent == "U.S. Customs and Border Protection"


def test_generated_city_police_abbreviation() -> None:
    text = "Tulsa police arrived. TPD officers stayed back; the Tulsa Police Department said so."
    names = [a.name for a in find_agencies(text)]
    assert names == ["Tulsa Police Department"] * 3


def test_finder_ignores_unknown_lowercase_police() -> None:
    assert find_agencies("Local police and federal police were there.") == []


def test_all_states_present() -> None:
    assert len(US_STATES) >= 51
    assert state_code("Calif.") == "CA" and state_code("Missouri") == "MO"
    assert state_code("Nueva York") == "NY"


def test_resolve_place() -> None:
    place = resolve_place("Springfield", "Missouri")
    assert place is not None and place.admin1_code == "MO" and place.country_code == "US"
    assert place.latitude is not None and abs(place.latitude - 37.2) < 0.2
    illinois = resolve_place("Springfield", "IL")
    assert illinois is not None and illinois.admin1_code == "IL"
    assert resolve_place("Portland", "Ore.") is not None
    assert resolve_place("Boise", "Texas") is None
    assert resolve_place("Guadalajara", country="Mexico") is not None
    state = resolve_place(None, "Minn.")
    assert state is not None and state.kind == "state" and state.admin1 == "Minnesota"
    assert resolve_place("Nowhereville Xyz") is None


def test_finder_handles_accented_aliases() -> None:
    text = "Agentes del Servicio de Inmigración y Control de Aduanas y la corte de inmigración."
    names = [a.name for a in find_agencies(text)]
    assert names == [
        "U.S. Immigration and Customs Enforcement",
        "Executive Office for Immigration Review",
    ]


def test_state_agencies() -> None:
    fdle = normalize_agency("Florida Department of Law Enforcement")
    assert fdle is not None and fdle.kind == "state_agency"
    assert fdle.name == "Florida Department of Law Enforcement"
    patrol = normalize_agency("Ohio State Highway Patrol")
    assert patrol is not None and patrol.key == normalize_agency("Ohio State Police").key  # type: ignore[union-attr]
