"""Editing people, events and legal actions through the API and the incident page: roles,
reasons, vocabularies, restricted incidents, one ledger entry per changed field."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from testigo.vault import ledger
from testigo.vault.service import Vault

from .conftest import Account, login


def _incident(client: TestClient, who: Account, **extra: object) -> int:
    response = client.post(
        "/api/v1/incidents", json={"title": "A stop", **extra}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _records(client: TestClient, who: Account, incident: int) -> tuple[int, int, int]:
    base = f"/api/v1/incidents/{incident}"
    event = client.post(
        f"{base}/events",
        json={"kind": "arrest", "description": "He is handcuffed.", "reason": "video"},
        headers=who.headers,
    )
    person = client.post(
        f"{base}/people",
        json={"name": "R. Example", "role": "witness", "reason": "statement"},
        headers=who.headers,
    )
    legal = client.post(
        f"{base}/legal-actions",
        json={"kind": "warrant", "description": "A warrant", "reason": "statement"},
        headers=who.headers,
    )
    for response in (event, person, legal):
        assert response.status_code == 201, response.text
    return event.json()["id"], person.json()["id"], legal.json()["id"]


def _edits(vault: Vault, subject: str, entry_type: str) -> list[dict[str, Any]]:
    with vault.reading() as session:
        rows = [
            e for e in ledger.entries_for_subject(session, subject) if e.entry_type == entry_type
        ]
    return [{**json.loads(bytes(e.body)), "actor": e.actor} for e in rows]


def test_edit_event(app_client: TestClient, users: dict[str, Account], vault: Vault) -> None:
    incident = _incident(app_client, users["admin"])
    event, _, _ = _records(app_client, users["investigator"], incident)
    path = f"/api/v1/incidents/{incident}/events/{event}"
    body = {
        "kind": "use_of_force",
        "description": "An officer smashes the driver window.",
        "occurred_on": "2025-11-04",
        "clock_time": "14:25",
        "reason": "seen at 25:10 in the video",
    }
    done = app_client.patch(path, json=body, headers=users["investigator"].headers)
    assert done.status_code == 200, done.text
    assert done.json()["changed"] == ["kind", "description", "occurred_on", "clock_time"]
    assert done.json()["record"]["kind"] == "use_of_force"
    entries = _edits(vault, f"event:{event}", "event.edit")
    assert [e["params"]["field"] for e in entries] == [
        "kind",
        "description",
        "occurred_on",
        "clock_time",
    ]
    kind = entries[0]
    assert kind["params"] == {
        "field": "kind",
        "from": "arrest",
        "to": "use_of_force",
        "reason": "seen at 25:10 in the video",
    }
    assert kind["actor"] == "web:investigator"
    assert f"incident:{incident}" in kind["subjects"]
    # the same values again change nothing and ledger nothing
    again = app_client.patch(path, json=body, headers=users["investigator"].headers)
    assert again.json()["changed"] == []
    assert len(_edits(vault, f"event:{event}", "event.edit")) == 4
    # the search index follows: the new words are found, the new kind is use of force
    viewer = users["viewer"].headers
    found = app_client.get("/api/v1/incidents", params={"q": "smashes"}, headers=viewer).json()
    assert [i["id"] for i in found["incidents"]] == [incident]
    forced = app_client.get(
        "/api/v1/incidents", params={"use_of_force": "true"}, headers=viewer
    ).json()
    assert [i["id"] for i in forced["incidents"]] == [incident]
    shown = app_client.get(f"/api/v1/incidents/{incident}", headers=viewer).json()
    assert shown["timeline"][0]["description"] == "An officer smashes the driver window."
    assert shown["timeline"][0]["clock_time"] == "14:25"


def test_edit_person(app_client: TestClient, users: dict[str, Account], vault: Vault) -> None:
    incident = _incident(app_client, users["admin"])
    _, person, _ = _records(app_client, users["investigator"], incident)
    path = f"/api/v1/incidents/{incident}/people/{person}"
    inv = users["investigator"].headers
    # the reason given when the person was added by hand is ledgered too
    assert [e["params"]["reason"] for e in _edits(vault, f"person:{person}", "record.reason")] == [
        "statement"
    ]
    done = app_client.patch(
        path,
        json={"name": "Rosa Example", "role": "family", "reason": "her statement names her"},
        headers=inv,
    )
    assert done.status_code == 200, done.text
    assert done.json()["changed"] == ["name", "role"]
    entries = _edits(vault, f"person:{person}", "person.edit")
    assert [(e["params"]["field"], e["params"]["from"], e["params"]["to"]) for e in entries] == [
        ("name", "R. Example", "Rosa Example"),
        ("role", "witness", "family"),
    ]
    # a child is always protected: the age raises the sensitivity, lowering it is refused
    child = app_client.patch(path, json={"age": 12, "reason": "birth record"}, headers=inv)
    assert child.status_code == 200, child.text
    assert child.json()["changed"] == ["age", "minor", "sensitivity"]
    assert child.json()["record"]["sensitivity"] == "protected"
    lower = app_client.patch(
        path, json={"sensitivity": "public", "reason": "asked to be named"}, headers=inv
    )
    assert lower.status_code == 400
    assert "minor" in lower.json()["error"]
    data = app_client.get(f"/api/v1/incidents/{incident}", headers=users["viewer"].headers).json()
    assert data["people"][0]["role"] == "family"
    assert data["people"][0]["name"] != "Rosa Example"  # protected: withheld from viewers
    adult = app_client.patch(
        path, json={"age": 34, "sensitivity": "public", "reason": "wrong record"}, headers=inv
    )
    assert adult.status_code == 200, adult.text
    assert adult.json()["record"]["sensitivity"] == "public"
    empty = app_client.patch(path, json={"name": None, "reason": "x"}, headers=inv)
    assert empty.status_code == 400  # neither a name nor a description would be left


def test_edit_legal_action(app_client: TestClient, users: dict[str, Account], vault: Vault) -> None:
    incident = _incident(app_client, users["admin"])
    _, _, action = _records(app_client, users["investigator"], incident)
    done = app_client.patch(
        f"/api/v1/incidents/{incident}/legal-actions/{action}",
        json={
            "kind": "administrative_warrant",
            "form": "I-205",
            "issued_on": "2019",
            "date_precision": "year",
            "issuer": "an immigration judge",
            "shown_to_subject": False,
            "reason": "court file",
        },
        headers=users["investigator"].headers,
    )
    assert done.status_code == 200, done.text
    assert done.json()["changed"] == [
        "kind",
        "form",
        "issued_on",
        "date_precision",
        "issuer",
        "shown_to_subject",
    ]
    entries = _edits(vault, f"legal_action:{action}", "legal_action.edit")
    shown = entries[-1]["params"]
    assert shown["field"] == "shown_to_subject" and shown["to"] is False
    assert "from" not in shown  # it was not stated before
    data = app_client.get(f"/api/v1/incidents/{incident}", headers=users["viewer"].headers).json()
    legal = data["legal_actions"][0]
    assert (legal["kind"], legal["form"], legal["issuer"]) == (
        "administrative_warrant",
        "I-205",
        "an immigration judge",
    )
    assert legal["shown_to_subject"] is False


def test_edits_are_refused(app_client: TestClient, users: dict[str, Account], vault: Vault) -> None:
    incident = _incident(app_client, users["admin"])
    event, person, action = _records(app_client, users["investigator"], incident)
    base = f"/api/v1/incidents/{incident}"
    paths = {
        "event": (f"{base}/events/{event}", {"description": "Changed.", "reason": "r"}),
        "person": (f"{base}/people/{person}", {"description": "A neighbour", "reason": "r"}),
        "legal": (f"{base}/legal-actions/{action}", {"description": "Changed.", "reason": "r"}),
    }
    inv = users["investigator"].headers
    for path, body in paths.values():
        assert app_client.patch(path, json=body).status_code == 401
        for role in ("viewer", "contributor"):
            refused = app_client.patch(path, json=body, headers=users[role].headers)
            assert refused.status_code == 403, (path, role)
        no_reason = app_client.patch(path, json={**body, "reason": "  "}, headers=inv)
        assert no_reason.status_code == 400
        assert "reason" in no_reason.json()["error"]
        missing = app_client.patch(
            path, json={k: v for k, v in body.items() if k != "reason"}, headers=inv
        )
        assert missing.status_code == 422
    bad_values = [
        (paths["event"][0], {"kind": "teleport"}, "kind must be one of"),
        (paths["event"][0], {"occurred_on": "yesterday"}, "occurred_on must be a date"),
        (paths["event"][0], {"occurred_on": "2025-02-30"}, "not a real date"),
        (paths["event"][0], {"clock_time": "25:00"}, "HH:MM"),
        (paths["event"][0], {"description": " "}, "cannot be empty"),
        (paths["person"][0], {"role": "hero"}, "role must be one of"),
        (paths["person"][0], {"sensitivity": "secret"}, "sensitivity must be one of"),
        (paths["legal"][0], {"kind": "parking_ticket"}, "kind must be one of"),
        (paths["legal"][0], {"date_precision": "minute"}, "date_precision must be one of"),
    ]
    for path, body, message in bad_values:
        refused = app_client.patch(path, json={**body, "reason": "r"}, headers=inv)
        assert refused.status_code == 400, (path, body, refused.text)
        assert message in refused.json()["error"]
    for path in (f"{base}/events/99999", f"{base}/people/99999", f"{base}/legal-actions/99999"):
        body = {"description": "x", "reason": "r"}
        assert app_client.patch(path, json=body, headers=inv).status_code == 404
    # a record of another incident is not reachable through this one
    other = _incident(app_client, users["admin"], title="Another stop")
    for kind, (path, body) in paths.items():
        elsewhere = path.replace(f"/incidents/{incident}/", f"/incidents/{other}/")
        assert app_client.patch(elsewhere, json=body, headers=inv).status_code == 404, kind
    gone = app_client.patch("/api/v1/incidents/99999/events/1", json={"reason": "r"}, headers=inv)
    assert gone.status_code == 404
    # nothing refused left a trace in the ledger
    for subject, entry_type in (
        (f"event:{event}", "event.edit"),
        (f"person:{person}", "person.edit"),
        (f"legal_action:{action}", "legal_action.edit"),
    ):
        assert _edits(vault, subject, entry_type) == []


def test_restricted_incident_edits(
    app_client: TestClient, users: dict[str, Account], vault: Vault
) -> None:
    incident = _incident(app_client, users["admin"], restricted=True)
    event, person, action = _records(app_client, users["admin"], incident)
    base = f"/api/v1/incidents/{incident}"
    inv = users["investigator"].headers
    edits = (
        (f"{base}/events/{event}", {"description": "Changed.", "reason": "r"}, "event"),
        (f"{base}/people/{person}", {"name": "Someone", "reason": "r"}, "person"),
        (f"{base}/legal-actions/{action}", {"form": "I-200", "reason": "r"}, "legal_action"),
    )
    for path, body, _ in edits:
        hidden = app_client.patch(path, json=body, headers=inv)
        assert hidden.status_code == 404  # not even admitted to exist
    added = app_client.post(
        f"{base}/members", json={"user": "investigator"}, headers=users["admin"].headers
    )
    assert added.status_code == 201, added.text
    for path, body, kind in edits:
        done = app_client.patch(path, json=body, headers=inv)
        assert done.status_code == 200, done.text
        assert len(done.json()["changed"]) == 1
        row_id = path.rsplit("/", 1)[1]
        assert _edits(vault, f"{kind}:{row_id}", f"{kind}.edit")[0]["actor"] == "web:investigator"


def test_incident_page_edit_forms(
    app_client: TestClient, users: dict[str, Account], vault: Vault
) -> None:
    incident = _incident(app_client, users["admin"])
    event, person, action = _records(app_client, users["admin"], incident)
    csrf = login(app_client, "investigator")
    page = app_client.get(f"/incidents/{incident}")
    assert page.status_code == 200
    for action_path in (
        f"/incidents/{incident}/events/{event}/edit",
        f"/incidents/{incident}/people/{person}/edit",
        f"/incidents/{incident}/legal-actions/{action}/edit",
    ):
        assert f'action="{action_path}"' in page.text
    no_csrf = app_client.post(
        f"/incidents/{incident}/events/{event}/edit",
        data={"csrf_token": "forged", "kind": "arrest", "description": "Changed.", "reason": "r"},
        follow_redirects=False,
    )
    assert no_csrf.status_code == 403
    form = {
        "csrf_token": csrf,
        "kind": "use_of_force",
        "description": "He is pulled out of the car.",
        "occurred_on": "",
        "clock_time": "",
        "media_offset": "",
        "reason": "video at 25:40",
    }
    done = app_client.post(
        f"/incidents/{incident}/events/{event}/edit", data=form, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    assert [e["params"]["field"] for e in _edits(vault, f"event:{event}", "event.edit")] == [
        "kind",
        "description",
    ]
    person_form = {
        "csrf_token": csrf,
        "name": "R. Example",
        "description": "a neighbour",
        "age": "",
        "sensitivity": "restricted",
        "role": "witness",
        "reason": "her statement",
    }
    done = app_client.post(
        f"/incidents/{incident}/people/{person}/edit", data=person_form, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    assert [e["params"]["field"] for e in _edits(vault, f"person:{person}", "person.edit")] == [
        "description"
    ]
    bad_age = app_client.post(
        f"/incidents/{incident}/people/{person}/edit",
        data={**person_form, "age": "old"},
        follow_redirects=False,
    )
    assert bad_age.status_code == 400
    legal_form = {
        "csrf_token": csrf,
        "kind": "judicial_warrant",
        "description": "A warrant",
        "form": "",
        "issued_on": "",
        "issuer": "",
        "shown": "yes",
        "reason": "court file",
    }
    done = app_client.post(
        f"/incidents/{incident}/legal-actions/{action}/edit",
        data=legal_form,
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    fields = [
        e["params"]["field"] for e in _edits(vault, f"legal_action:{action}", "legal_action.edit")
    ]
    assert fields == ["kind", "shown_to_subject"]
    login(app_client, "viewer")
    viewer_page = app_client.get(f"/incidents/{incident}")
    assert f"/events/{event}/edit" not in viewer_page.text


def test_openapi_lists_record_edits(app_client: TestClient) -> None:
    paths = app_client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/incidents/{incident_id}/people/{person_id}",
        "/api/v1/incidents/{incident_id}/events/{event_id}",
        "/api/v1/incidents/{incident_id}/legal-actions/{action_id}",
    ):
        assert "patch" in paths[path]
    assert "get" in paths["/api/v1/consistency"]


def test_person_form_sends_on_only_what_the_user_changed(
    app_client: TestClient, users: dict[str, Account], vault: Vault
) -> None:
    """The page's form carries every field; an age under 18 with the sensitivity left as shown
    must not read as lowering a minor's protection, and an untouched role is not rewritten."""
    incident = _incident(app_client, users["admin"])
    _, person, _ = _records(app_client, users["admin"], incident)
    csrf = login(app_client, "investigator")
    page = app_client.get(f"/incidents/{incident}")
    assert 'name="role_was" value="witness"' in page.text
    form = {
        "csrf_token": csrf,
        "name": "R. Example",
        "description": "",
        "age": "15",
        "role": "witness",
        "role_was": "witness",
        "sensitivity": "restricted",
        "sensitivity_was": "restricted",
        "reason": "school record",
    }
    done = app_client.post(
        f"/incidents/{incident}/people/{person}/edit", data=form, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    fields = [e["params"]["field"] for e in _edits(vault, f"person:{person}", "person.edit")]
    assert "age" in fields and "role" not in fields
    record = app_client.get(f"/api/v1/incidents/{incident}", headers=users["admin"].headers).json()
    (edited,) = [p for p in record["people"] if p["id"] == person]
    assert edited["age"] == 15 and edited["sensitivity"] == "protected"
