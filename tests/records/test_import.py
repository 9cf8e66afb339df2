"""Importing articles: joining, corroboration, contradiction, bad input, edits and merges."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from testigo import errors
from testigo.db.models import LedgerEntry
from testigo.errors import RefusedInputError, UsageError
from testigo.records.importer import import_article
from testigo.records.incidents import list_incidents, update_incident
from testigo.records.people import merge_people, same_person, surname_tokens
from testigo.records.record import incident_record
from testigo.vault.service import Vault

from .conftest import article, count_rows, unledgered_rows


def _claims(vault: Vault, incident_id: int) -> dict[str, dict[str, Any]]:
    return {c["key"]: c for c in incident_record(vault, incident_id)["claims"]}


def test_second_source_joins_with_corroboration_and_contradiction(vault: Vault) -> None:
    news = import_article(vault, article("dayton-news.txt"), filename="news.txt", actor="a")
    statement = import_article(
        vault, article("dayton-statement.txt"), filename="statement.txt", actor="a"
    )
    assert news.incident_created
    assert statement.joined and statement.incident_id == news.incident_id
    record = incident_record(vault, news.incident_id)
    assert [s["kind"] for s in record["sources"]] == ["article", "official_statement"]
    claims = _claims(vault, news.incident_id)
    for key in ("incident_date", "location.city", "detention_facility"):
        assert claims[key]["status"] == "corroborated", key
        assert len(claims[key]["sources"]) == 2
    age = next(c for k, c in claims.items() if k.startswith("subject.age:"))
    assert age["status"] == "corroborated"
    assert claims["use_of_force"]["status"] == "contradicted"
    values = {a["source"]: a["value"] for a in claims["use_of_force"]["accounts"]}
    assert values == {news.source_id: True, statement.source_id: False}
    assert claims["warrant.shown"]["status"] == "contradicted"
    # The spokesperson's denial is a claim with a stance, beside the family's account.
    stances = {(a["speaker"], a["stance"]) for a in claims["use_of_force"]["accounts"]}
    assert ("Dana Whitcomb", "disputes") in stances
    assert ("Marisol Ferreira", "asserts") in stances
    assert record["incident"]["status"] == "disputed"
    subjects = [p for p in record["people"] if p["name"] == "Tomas Ferreira-Lund"]
    assert len(subjects) == 1 and len(subjects[0]["roles"]) == 2
    assert unledgered_rows(vault) == []


def test_unrelated_article_creates_a_new_incident(vault: Vault) -> None:
    first = import_article(vault, article("dayton-news.txt"), filename="a.txt", actor="a")
    other = import_article(vault, article("tucson-news.txt"), filename="b.txt", actor="a")
    assert other.incident_created and other.incident_id != first.incident_id
    record = incident_record(vault, other.incident_id)
    teen = next(p for p in record["people"] if p["name"] == "Rafael Quintero-Bell")
    assert teen["minor"] and teen["sensitivity"] == "protected"
    assert "document_request" in {e["kind"] for e in record["timeline"]}
    assert len(list_incidents(vault)) == 2
    assert [i.id for i in list_incidents(vault, place="tucson")] == [other.incident_id]


def test_forced_incident_and_duplicate_import(vault: Vault) -> None:
    first = import_article(vault, article("dayton-news.txt"), filename="a.txt", actor="a")
    forced = import_article(
        vault,
        article("tucson-news.txt"),
        filename="b.txt",
        actor="a",
        incident_id=first.incident_id,
    )
    assert forced.incident_id == first.incident_id and not forced.incident_created
    again = import_article(vault, article("dayton-news.txt"), filename="a.txt", actor="a")
    assert again.duplicate and again.source_id == first.source_id
    assert count_rows(vault)["source"] == 2


BAD_INPUTS = {
    "empty": b"",
    "binary": bytes(range(256)) * 64,
    "ten_mb": b"The officers arrived. " * (10 * 1024 * 1024 // 22 + 1),
    "scripts": b"<html><head><script>var a = 1;</script></head><body>"
    + b"<script>document.write('x');</script>" * 500
    + b"</body></html>",
    "latin1_noise": bytes(range(0x80, 0x100)) * 40,
    "whitespace": b" \n\t " * 100,
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_refused_whole(vault: Vault, name: str) -> None:
    before = count_rows(vault)
    with pytest.raises(errors.TestigoError):
        import_article(vault, BAD_INPUTS[name], filename=f"{name}.bin", actor="a")
    assert count_rows(vault) == before
    assert before["incident"] == 0 and before["source"] == 0


def test_latin1_article_is_decoded(vault: Vault) -> None:
    text = (
        article("tucson-news.txt")
        .decode("utf-8")
        .replace("Elena Bell", "Elena Báez")
        .replace("—", "-")
    )
    result = import_article(vault, text.encode("latin-1"), filename="latin1.txt", actor="a")
    names = {p["name"] for p in incident_record(vault, result.incident_id)["people"]}
    assert "Elena Báez" in names


def test_failure_inside_the_transaction_leaves_no_records(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    import testigo.records.importer as importer

    def broken(*args: object, **kwargs: object) -> object:
        raise RefusedInputError("simulated failure while comparing claims")

    monkeypatch.setattr(importer, "assess", broken)
    with vault.reading() as session:
        entries_before = len(session.scalars(select(LedgerEntry.seq)).all())
    with pytest.raises(RefusedInputError):
        import_article(vault, article("dayton-news.txt"), filename="a.txt", actor="a")
    counts = count_rows(vault)
    assert counts["incident"] == counts["source"] == counts["person"] == counts["claim"] == 0
    with vault.reading() as session:
        types = [
            e.entry_type
            for e in session.scalars(select(LedgerEntry).where(LedgerEntry.seq >= entries_before))
        ]
    # Nothing was recorded: the original, its text and the facts share one transaction.
    # (The blobs may stay in the store unreferenced; a later import of the same bytes adopts them.)
    assert types == []


def test_edit_is_ledgered_with_actor_and_reason(vault: Vault) -> None:
    result = import_article(vault, article("dayton-news.txt"), filename="a.txt", actor="a")
    update_incident(
        vault, result.incident_id, "status", "verified", reason="video reviewed", actor="test:bob"
    )
    with pytest.raises(UsageError):
        update_incident(vault, result.incident_id, "status", "maybe", reason="x", actor="b")
    with pytest.raises(UsageError):
        update_incident(vault, result.incident_id, "summary", "x", reason=" ", actor="b")
    with vault.reading() as session:
        entry = session.scalars(
            select(LedgerEntry).where(LedgerEntry.entry_type == "incident.edit")
        ).one()
    body = json.loads(entry.body)
    assert body["actor"] == "test:bob"
    assert body["params"] == {
        "field": "status",
        "from": "reported",
        "to": "verified",
        "reason": "video reviewed",
    }
    assert incident_record(vault, result.incident_id)["incident"]["status"] == "verified"


def test_merge_people_is_ledgered(vault: Vault) -> None:
    a = import_article(vault, article("dayton-news.txt"), filename="a.txt", actor="a")
    b = import_article(vault, article("tucson-news.txt"), filename="b.txt", actor="a")
    person_a = next(p["id"] for p in incident_record(vault, a.incident_id)["people"] if p["name"])
    person_b = next(p["id"] for p in incident_record(vault, b.incident_id)["people"] if p["name"])
    result = merge_people(vault, person_a, person_b, actor="test:carol", reason="same man")
    assert result.moved["person_roles"] >= 1
    with vault.reading() as session:
        entry = session.get(LedgerEntry, result.ledger_seq)
        assert entry is not None
        body = json.loads(entry.body)
    assert body["type"] == "person.merge" and body["actor"] == "test:carol"
    assert body["params"]["reason"] == "same man"
    people = incident_record(vault, b.incident_id)["people"]
    assert any(p["id"] == person_a for p in people)
    with pytest.raises(UsageError):
        merge_people(vault, person_a, person_b, actor="x", reason="again")


def test_name_matching() -> None:
    assert surname_tokens("Florencio Millan-Vazquez") == {"millan", "vazquez"}
    assert same_person("Florencio Millan Vazquez", "Millan-Vazquez")
    assert not same_person("Marisol Ferreira", "Tomas Ferreira-Lund")
    assert same_person("José Bazán Carrillo", "Jose Bazan Carrillo")
