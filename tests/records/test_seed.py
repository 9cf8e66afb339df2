"""The record holds the seed story: people, agencies with parents, place, legal, timeline."""

from __future__ import annotations

import json

from sqlalchemy import select

from testigo.db.models import EvidenceItem
from testigo.records import models as m
from testigo.records.importer import import_article
from testigo.records.record import incident_record
from testigo.vault.service import Vault

from .conftest import SEED, unledgered_rows


def _stored_text(vault: Vault, item_id: int) -> str:
    with vault.reading() as session:
        item = session.get(EvidenceItem, item_id)
        assert item is not None
        sha = item.sha256
    with vault.blobs.open(sha) as handle:
        return handle.read().decode("utf-8")


def test_seed_story_record(vault: Vault, seed_article: bytes) -> None:
    gold = json.loads((SEED / "01-kansas-city-car-window.gold.json").read_text("utf-8"))
    result = import_article(vault, seed_article, filename="seed.txt", actor="test:alice")
    assert result.incident_created
    record = incident_record(vault, result.incident_id)
    text = _stored_text(vault, result.text_item_id)

    names = {p["name"] for p in record["people"] if p["name"]}
    for person in gold["people"]:
        assert person["name"] in names
    by_name = {p["name"]: p for p in record["people"] if p["name"]}
    subject = by_name["Florencio Millan-Vazquez"]
    assert subject["age"] == 32
    assert {r["role"] for r in subject["roles"]} == {"subject"}
    spokesman = by_name["Shawn Neudauer"]
    assert spokesman["sensitivity"] == "public"
    assert {r["role"] for r in spokesman["roles"]} == {"spokesperson"}
    children = [p for p in record["people"] if p["name"] is None and p["minor"]]
    assert children and children[0]["sensitivity"] == "protected"

    orgs = {o["name"]: o for o in record["organizations"]}
    ice = orgs["U.S. Immigration and Customs Enforcement"]
    assert ice["parent"] == "U.S. Department of Homeland Security"
    assert "ICE" in ice["names"]
    assert "Kansas City Police Department" in orgs
    assert "KCPD" in orgs["Kansas City Police Department"]["names"]
    assert "Morgan County Sheriff's Department" in orgs
    with vault.reading() as session:
        ero = session.scalars(select(m.Organization).where(m.Organization.key == "ero")).one()
        ice_row = session.scalars(select(m.Organization).where(m.Organization.key == "ice")).one()
        assert ero.parent_id == ice_row.id
        usbp = session.scalars(select(m.Organization).where(m.Organization.key == "usbp")).one()
        cbp = session.get(m.Organization, usbp.parent_id)
        assert cbp is not None and cbp.key == "cbp"

    city = next(p for p in record["places"] if p["role"] == "encounter")
    assert city["name"] == "Kansas City" and city["admin1"] == "Missouri"
    assert abs(city["latitude"] - 39.1) < 0.1 and abs(city["longitude"] + 94.58) < 0.1
    facility = next(p for p in record["places"] if p["role"] == "detention")
    assert "Morgan County" in facility["name"]

    legal = record["legal_actions"]
    kinds = [a["kind"] for a in legal]
    assert "removal_order" in kinds and "expedited_removal" in kinds
    assert "reinstatement_of_removal" in kinds
    warrant = next(a for a in legal if a["kind"] == "warrant" and a["shown_to_subject"] is False)
    assert "would not show" in warrant["citation"]["words"]
    order = next(a for a in legal if a["kind"] == "removal_order")
    assert order["issued_on"] == "2011" and "immigration judge" in (order["issuer"] or "")

    timeline = record["timeline"]
    kinds = [e["kind"] for e in timeline]
    for wanted in ("approach", "use_of_force", "arrival", "detention", "recording"):
        assert wanted in kinds
    smashed = next(e for e in timeline if "smashed" in e["description"])
    assert smashed["media_offset_seconds"] == 25 * 60
    for event in timeline:
        c = event["citation"]
        assert text[c["start"] : c["end"]] == event["description"] == c["words"]
    for quote in record["quotes"]:
        c = quote["citation"]
        assert text[c["start"] : c["end"]] == quote["text"]
    assert any(q["text"].startswith("no other choice") for q in record["quotes"])
    for claim in record["claims"]:
        for account in claim["accounts"]:
            c = account["citation"]
            if "start" in c:
                assert c["item"] == result.text_item_id
                assert 0 <= c["start"] <= c["end"] <= len(text)

    assert unledgered_rows(vault) == []
