"""The JSON API, endpoint by endpoint and role by role, refusals included."""

from __future__ import annotations

import base64
import hashlib

from fastapi.testclient import TestClient

from testigo.vault import merkle
from testigo.vault.checkpoint import verify_checkpoint
from testigo.vault.keys import Verifier
from testigo.vault.service import Vault

from .conftest import Account, login
from .fixtures import EXAMPLE_ARTICLE


def _incident(client: TestClient, who: Account, title: str = "A stop", **extra: object) -> int:
    response = client.post("/api/v1/incidents", json={"title": title, **extra}, headers=who.headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _upload(client: TestClient, who: Account, incident_id: int | None, data: bytes) -> dict:
    created = client.post(
        "/api/v1/uploads",
        json={"name": "clip.bin", "size": len(data), "incident_id": incident_id},
        headers=who.headers,
    )
    assert created.status_code == 201, created.text
    url = created.json()["location"]
    response = client.patch(
        url,
        content=data,
        headers={
            **who.headers,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_unauthenticated_requests_are_refused(app_client: TestClient) -> None:
    for path in ("/api/v1/incidents", "/api/v1/me", "/api/v1/items/1", "/api/v1/stats"):
        response = app_client.get(path)
        assert response.status_code == 401
        assert "error" in response.json()
    bad = app_client.get("/api/v1/me", headers={"Authorization": "Bearer tgo_nope"})
    assert bad.status_code == 401


def test_me_for_every_role(app_client: TestClient, users: dict[str, Account]) -> None:
    for role, account in users.items():
        response = app_client.get("/api/v1/me", headers=account.headers)
        assert response.json() == {
            "id": account.user_id,
            "name": role,
            "role": role,
            "via": "token",
        }


def test_create_incident_roles(app_client: TestClient, users: dict[str, Account]) -> None:
    refused = app_client.post(
        "/api/v1/incidents", json={"title": "x"}, headers=users["viewer"].headers
    )
    assert refused.status_code == 403
    for role in ("contributor", "investigator", "admin"):
        _incident(app_client, users[role], title=f"by {role}")
    listed = app_client.get("/api/v1/incidents", headers=users["viewer"].headers).json()
    assert listed["total"] == 3
    assert {i["title"] for i in listed["incidents"]} == {
        "by contributor",
        "by investigator",
        "by admin",
    }
    empty = app_client.post("/api/v1/incidents", json={"title": ""}, headers=users["admin"].headers)
    assert empty.status_code == 422


def test_search_filters_sort_and_pages(app_client: TestClient, users: dict[str, Account]) -> None:
    admin = users["admin"]
    ids = [
        _incident(app_client, admin, title="Window broken in Kansas City", start_time="2025-11-04"),
        _incident(app_client, admin, title="Checkpoint stop near Tucson", start_time="2025-06-01"),
        _incident(app_client, admin, title="Niño detenido en la escuela", start_time="2024-01-15"),
    ]
    get = lambda **q: app_client.get("/api/v1/incidents", params=q, headers=admin.headers).json()  # noqa: E731
    assert [i["id"] for i in get(q="kans wind")["incidents"]] == [ids[0]]
    assert [i["id"] for i in get(q="tucson")["incidents"]] == [ids[1]]
    assert get(q="nothing-like-this")["total"] == 0
    assert [i["id"] for i in get(date_from="2025-01-01", sort="oldest")["incidents"]] == ids[1::-1]
    assert [i["id"] for i in get(date_to="2024-12-31")["incidents"]] == [ids[2]]
    assert [i["id"] for i in get(sort="title")["incidents"]] == [ids[1], ids[2], ids[0]]
    page = get(per_page=2, page=2)
    assert page["total"] == 3 and page["pages"] == 2 and len(page["incidents"]) == 1
    assert get(has_video="true")["total"] == 0
    assert get(status="reported")["total"] == 3
    bad = app_client.get("/api/v1/incidents", params={"per_page": 1000}, headers=admin.headers)
    assert bad.status_code == 422


def test_restricted_incident_is_hidden_and_views_are_ledgered(
    app_client: TestClient, users: dict[str, Account], vault: Vault
) -> None:
    investigator, viewer = users["investigator"], users["viewer"]
    secret = _incident(app_client, investigator, title="Secret", restricted=True)
    _incident(app_client, investigator, title="Open")
    for account, expected in (
        (viewer, 404),
        (users["contributor"], 404),
        (investigator, 200),
        (users["admin"], 200),
    ):
        response = app_client.get(f"/api/v1/incidents/{secret}", headers=account.headers)
        assert response.status_code == expected, account.role
    titles = {
        i["title"]
        for i in app_client.get("/api/v1/incidents", headers=viewer.headers).json()["incidents"]
    }
    assert titles == {"Open"}
    added = app_client.post(
        f"/api/v1/incidents/{secret}/members", json={"user": "viewer"}, headers=investigator.headers
    )
    assert added.status_code == 201
    assert {m["name"] for m in added.json()} == {"investigator", "viewer"}
    assert app_client.get(f"/api/v1/incidents/{secret}", headers=viewer.headers).status_code == 200
    refused = app_client.post(
        f"/api/v1/incidents/{secret}/members", json={"user": "contributor"}, headers=viewer.headers
    )
    assert refused.status_code == 403
    from testigo.vault import ledger

    with vault.reading() as session:
        views = [
            e
            for e in ledger.entries_for_subject(session, f"incident:{secret}")
            if e.entry_type == "access.view"
        ]
    assert {v.actor for v in views} >= {"web:viewer", "web:investigator", "web:admin"}
    removed = app_client.delete(
        f"/api/v1/incidents/{secret}/members/viewer", headers=investigator.headers
    )
    assert removed.status_code == 200
    assert app_client.get(f"/api/v1/incidents/{secret}", headers=viewer.headers).status_code == 404


def test_edit_incident_needs_investigator_and_reason(
    app_client: TestClient, users: dict[str, Account], vault: Vault
) -> None:
    incident = _incident(app_client, users["contributor"])
    body = {"summary": "Officers broke a window.", "reason": "from the video"}
    assert (
        app_client.patch(
            f"/api/v1/incidents/{incident}", json=body, headers=users["contributor"].headers
        ).status_code
        == 403
    )
    no_reason = app_client.patch(
        f"/api/v1/incidents/{incident}",
        json={"summary": "x", "reason": " "},
        headers=users["investigator"].headers,
    )
    assert no_reason.status_code == 400
    done = app_client.patch(
        f"/api/v1/incidents/{incident}", json=body, headers=users["investigator"].headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["changed"] == ["summary"]
    assert done.json()["incident"]["summary"] == "Officers broke a window."
    bad = app_client.patch(
        f"/api/v1/incidents/{incident}",
        json={"status": "invented", "reason": "r"},
        headers=users["investigator"].headers,
    )
    assert bad.status_code == 400
    from testigo.vault import ledger

    with vault.reading() as session:
        edits = [
            e
            for e in ledger.entries_for_subject(session, f"incident:{incident}")
            if e.entry_type == "incident.edit"
        ]
    assert edits and edits[-1].actor == "web:investigator"
    assert b"from the video" in bytes(edits[-1].body)
    found = app_client.get(
        "/api/v1/incidents", params={"q": "window"}, headers=users["viewer"].headers
    ).json()
    assert [i["id"] for i in found["incidents"]] == [incident]


def test_records_by_hand(app_client: TestClient, users: dict[str, Account]) -> None:
    incident = _incident(app_client, users["admin"])
    inv = users["investigator"].headers
    event = app_client.post(
        f"/api/v1/incidents/{incident}/events",
        json={
            "kind": "use_of_force",
            "description": "The window is broken.",
            "reason": "seen in video",
        },
        headers=inv,
    )
    assert event.status_code == 201, event.text
    person = app_client.post(
        f"/api/v1/incidents/{incident}/people",
        json={"name": "R. Example", "role": "witness", "reason": "statement"},
        headers=inv,
    )
    assert person.status_code == 201, person.text
    legal = app_client.post(
        f"/api/v1/incidents/{incident}/legal-actions",
        json={
            "kind": "administrative_warrant",
            "description": "An I-205 warrant",
            "shown_to_subject": False,
            "reason": "statement",
        },
        headers=inv,
    )
    assert legal.status_code == 201, legal.text
    for path, body in (
        (f"/api/v1/incidents/{incident}/events", {"description": "x", "reason": "r"}),
    ):
        assert (
            app_client.post(path, json=body, headers=users["contributor"].headers).status_code
            == 403
        )
    data = app_client.get(f"/api/v1/incidents/{incident}", headers=users["viewer"].headers).json()
    assert data["timeline"][0]["kind"] == "use_of_force"
    assert data["people"][0]["name"] == "R. Example"
    assert data["legal_actions"][0]["shown_to_subject"] is False
    listed = app_client.get(
        "/api/v1/incidents", params={"use_of_force": "true"}, headers=users["viewer"].headers
    ).json()
    assert [i["id"] for i in listed["incidents"]] == [incident]


def test_article_import_gives_timeline_and_claims(
    app_client: TestClient, users: dict[str, Account]
) -> None:
    incident = _incident(app_client, users["contributor"], title="Car window")
    refused = app_client.post(
        "/api/v1/articles",
        json={"incident_id": incident, "text": EXAMPLE_ARTICLE},
        headers=users["viewer"].headers,
    )
    assert refused.status_code == 403
    response = app_client.post(
        "/api/v1/articles",
        json={"incident_id": incident, "text": EXAMPLE_ARTICLE},
        headers=users["contributor"].headers,
    )
    assert response.status_code == 201, response.text
    data = app_client.get(f"/api/v1/incidents/{incident}", headers=users["viewer"].headers).json()
    assert data["sources"] and data["timeline"]
    cited = [e["citation"] for e in data["timeline"] if e["citation"] and "words" in e["citation"]]
    assert cited and all(c["words"] for c in cited)
    assert any(a["name"] for a in data["agencies"])
    empty = app_client.post(
        "/api/v1/articles", json={"incident_id": incident}, headers=users["contributor"].headers
    )
    assert empty.status_code == 400
    by_file = app_client.post(
        "/api/v1/articles/file",
        files={
            "file": (
                "story.txt",
                EXAMPLE_ARTICLE.replace("Tuesday", "Monday").encode(),
                "text/plain",
            )
        },
        data={"incident_id": str(incident)},
        headers=users["contributor"].headers,
    )
    assert by_file.status_code == 201, by_file.text


def test_witness_account(app_client: TestClient, users: dict[str, Account]) -> None:
    incident = _incident(app_client, users["contributor"])
    response = app_client.post(
        f"/api/v1/incidents/{incident}/witness-accounts",
        json={
            "author": "R. Example",
            "text": "I saw ICE officers break the window of a grey car in Kansas City, Missouri.",
        },
        headers=users["contributor"].headers,
    )
    assert response.status_code == 201, response.text
    data = app_client.get(f"/api/v1/incidents/{incident}", headers=users["viewer"].headers).json()
    assert [s["kind"] for s in data["sources"]] == ["witness_account"]


def test_upload_resume_and_limits(
    app_client: TestClient, users: dict[str, Account], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    contributor = users["contributor"]
    incident = _incident(app_client, contributor)
    data = bytes(range(256)) * 1000
    created = app_client.post(
        "/api/v1/uploads",
        json={"name": "../../etc/passwd", "size": len(data), "incident_id": incident},
        headers=contributor.headers,
    )
    assert created.status_code == 201
    url = created.json()["location"]
    assert created.json()["name"] == "passwd"
    head = {**contributor.headers, "Content-Type": "application/offset+octet-stream"}
    first = app_client.patch(url, content=data[:100_000], headers={**head, "Upload-Offset": "0"})
    assert (
        first.status_code == 200
        and first.json()["offset"] == 100_000
        and not first.json()["complete"]
    )
    assert app_client.head(url, headers=contributor.headers).headers["Upload-Offset"] == "100000"
    wrong = app_client.patch(url, content=data[5:10], headers={**head, "Upload-Offset": "5"})
    assert wrong.status_code == 409
    other = app_client.head(url, headers=users["admin"].headers)
    assert other.status_code == 404
    too_much = app_client.patch(
        url, content=data[100_000:] + b"extra", headers={**head, "Upload-Offset": "100000"}
    )
    assert too_much.status_code == 413
    assert app_client.head(url, headers=contributor.headers).headers["Upload-Offset"] == "100000"
    done = app_client.patch(
        url, content=data[100_000:], headers={**head, "Upload-Offset": "100000"}
    )
    assert done.status_code == 200 and done.json()["complete"], done.text
    assert done.json()["result"]["sha256"] == hashlib.sha256(data).hexdigest()
    item = done.json()["item_id"]
    content = app_client.get(f"/api/v1/items/{item}/content", headers=users["viewer"].headers)
    assert content.content == data
    assert "attachment" in content.headers["content-disposition"]
    assert "sandbox" in content.headers["content-security-policy"]
    assert (
        app_client.post(
            "/api/v1/uploads", json={"name": "a", "size": 10}, headers=users["viewer"].headers
        ).status_code
        == 403
    )
    monkeypatch.setenv("TESTIGO_MAX_UPLOAD_BYTES", "1000")
    big = app_client.post(
        "/api/v1/uploads", json={"name": "a", "size": 1001}, headers=contributor.headers
    )
    assert big.status_code == 413
    missing = app_client.head("/api/v1/uploads/../../secret", headers=contributor.headers)
    assert missing.status_code == 404


def test_item_proof_verifies_offline(app_client: TestClient, users: dict[str, Account]) -> None:
    incident = _incident(app_client, users["contributor"])
    item = _upload(app_client, users["contributor"], incident, b"evidence bytes")["item_id"]
    meta = app_client.get(f"/api/v1/items/{item}", headers=users["viewer"].headers).json()
    assert meta["sha256"] == hashlib.sha256(b"evidence bytes").hexdigest()
    proof = app_client.get(f"/api/v1/items/{item}/proof", headers=users["viewer"].headers).json()
    verifier = Verifier.from_vkey(proof["verifier_key"])
    checkpoint = verify_checkpoint(proof["checkpoint"]["note"], [verifier])
    for entry in proof["entries"]:
        body = base64.b64decode(entry["entry_canonical_b64"])
        leaf = merkle.leaf_hash(body)
        assert leaf.hex() == entry["leaf_hash"]
        path = [bytes.fromhex(h) for h in entry["proof"]]
        assert merkle.verify_inclusion(entry["seq"], checkpoint.size, leaf, path, checkpoint.root)
    assert (
        app_client.get("/api/v1/items/99999/proof", headers=users["viewer"].headers).status_code
        == 404
    )
    cp = app_client.get("/api/v1/checkpoint", headers=users["viewer"].headers).json()
    assert cp["verifier_key"] == proof["verifier_key"]


def test_restricted_evidence_downloads_are_ledgered(
    app_client: TestClient, users: dict[str, Account], vault: Vault
) -> None:
    investigator = users["investigator"]
    incident = _incident(app_client, investigator, restricted=True)
    item = _upload(app_client, investigator, incident, b"secret clip")["item_id"]
    for path in (
        f"/api/v1/items/{item}",
        f"/api/v1/items/{item}/content",
        f"/api/v1/items/{item}/proof",
    ):
        assert app_client.get(path, headers=users["viewer"].headers).status_code == 404
        assert app_client.get(path, headers=investigator.headers).status_code == 200
    from testigo.vault import ledger

    with vault.reading() as session:
        entries = ledger.entries_for_subject(session, f"item:{item}")
    assert {e.entry_type for e in entries} == {"access.view", "access.download", "access.proof"}
    assert {e.actor for e in entries} == {"web:investigator"}


def test_tokens_and_users(app_client: TestClient, users: dict[str, Account]) -> None:
    viewer = users["viewer"]
    made = app_client.post("/api/v1/tokens", json={"name": "cron"}, headers=viewer.headers)
    assert made.status_code == 201
    token = made.json()["token"]
    assert (
        app_client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    listed = app_client.get("/api/v1/tokens", headers=viewer.headers).json()
    assert "token" not in listed[0] and {t["name"] for t in listed} == {"tests", "cron"}
    assert (
        app_client.delete(
            f"/api/v1/tokens/{made.json()['id']}", headers=users["contributor"].headers
        ).status_code
        == 404
    )
    from testigo.web import accounts

    assert (
        app_client.delete(f"/api/v1/tokens/{made.json()['id']}", headers=viewer.headers).status_code
        == 204
    )
    accounts.forget_cached()
    assert (
        app_client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    for role in ("viewer", "contributor", "investigator"):
        assert app_client.get("/api/v1/users", headers=users[role].headers).status_code == 403
        assert (
            app_client.post(
                "/api/v1/users", json={"name": "x", "role": "viewer"}, headers=users[role].headers
            ).status_code
            == 403
        )
    created = app_client.post(
        "/api/v1/users", json={"name": "newbie", "role": "viewer"}, headers=users["admin"].headers
    )
    assert created.status_code == 201 and len(created.json()["password"]) >= 10
    promoted = app_client.patch(
        f"/api/v1/users/{created.json()['id']}",
        json={"role": "investigator", "reason": "joined"},
        headers=users["admin"].headers,
    )
    assert promoted.json()["role"] == "investigator"
    assert (
        app_client.post(
            "/api/v1/users", json={"name": "bad", "role": "king"}, headers=users["admin"].headers
        ).status_code
        == 400
    )


def test_stats_and_map(app_client: TestClient, users: dict[str, Account]) -> None:
    incident = _incident(app_client, users["contributor"])
    app_client.post(
        "/api/v1/articles",
        json={"incident_id": incident, "text": EXAMPLE_ARTICLE},
        headers=users["contributor"].headers,
    )
    stats = app_client.get("/api/v1/stats", headers=users["viewer"].headers).json()
    assert stats["incidents"] == 1 and stats["by_agency"]
    points = app_client.get("/api/v1/map", headers=users["viewer"].headers).json()["points"]
    assert points and points[0]["latitude"] is not None


def test_session_api_calls_need_csrf(app_client: TestClient, users: dict[str, Account]) -> None:
    csrf = login(app_client, "contributor")
    assert app_client.get("/api/v1/me").json()["via"] == "session"
    refused = app_client.post("/api/v1/incidents", json={"title": "x"})
    assert refused.status_code == 403
    ok = app_client.post("/api/v1/incidents", json={"title": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201


def test_openapi_lists_every_endpoint(app_client: TestClient) -> None:
    spec = app_client.get("/api/v1/openapi.json").json()
    paths = set(spec["paths"])
    for path in (
        "/api/v1/incidents",
        "/api/v1/incidents/{incident_id}",
        "/api/v1/uploads/{upload_id}",
        "/api/v1/items/{item_id}/proof",
        "/api/v1/tokens",
        "/api/v1/users",
    ):
        assert path in paths
    assert not any(p.startswith("/incidents") for p in paths)


def test_upload_status_cancel_and_members_list(
    app_client: TestClient, users: dict[str, Account]
) -> None:
    contributor = users["contributor"]
    created = app_client.post(
        "/api/v1/uploads", json={"name": "a.bin", "size": 10}, headers=contributor.headers
    ).json()
    url = created["location"]
    status = app_client.get(url, headers=contributor.headers).json()
    assert status["offset"] == 0 and not status["complete"]
    assert app_client.get(url, headers=users["viewer"].headers).status_code == 404
    assert app_client.delete(url, headers=users["admin"].headers).status_code == 404
    assert app_client.delete(url, headers=contributor.headers).status_code == 204
    assert app_client.get(url, headers=contributor.headers).status_code == 404
    empty = app_client.post(
        "/api/v1/uploads", json={"name": "empty", "size": 0}, headers=contributor.headers
    )
    assert empty.status_code == 201 and empty.json()["complete"]
    incident = _incident(app_client, users["investigator"], restricted=True)
    members = app_client.get(
        f"/api/v1/incidents/{incident}/members", headers=users["investigator"].headers
    )
    assert [m["name"] for m in members.json()] == ["investigator"]
    hidden = app_client.get(f"/api/v1/incidents/{incident}/members", headers=contributor.headers)
    assert hidden.status_code == 404
