"""The capture protocol over HTTP, the pages, the QR code and the alerts."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from testigo.capture import alerts, service
from testigo.vault.service import Vault
from testigo.vault.verify import verify_vault

from .conftest import sha
from .media import decoded_frames, make_webm, split_clusters

API = "/api/v1/capture/sessions"


def new_link(client: TestClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/capture/tokens", json={"label": "corner", **extra}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def open_capture(client: TestClient, token: str, **extra: Any) -> tuple[str, dict[str, str]]:
    response = client.post(API, json={"token": token, "mime_type": "video/webm", **extra})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], {"Capture-Key": body["upload_key"]}


def patch(
    client: TestClient,
    sid: str,
    key: dict[str, str],
    index: int,
    offset: int,
    data: bytes,
    **h: str,
):  # type: ignore[no-untyped-def]
    headers = {
        **key,
        "Chunk-Index": str(index),
        "Upload-Offset": str(offset),
        "Chunk-SHA256": sha(data),
        "Chunk-Duration-Ms": "2000",
        "Content-Type": "application/offset+octet-stream",
        **h,
    }
    return client.patch(f"{API}/{sid}", content=data, headers=headers)


def test_protocol_round_trip(
    client: TestClient, investigator: dict[str, str], vault: Vault
) -> None:
    link = new_link(client, investigator)
    assert link["link"].endswith(f"/capture/{link['token']}") and "<svg" in link["qr_svg"]
    sid, key = open_capture(
        client,
        link["token"],
        device_clock="2026-11-29T12:00:00.000Z",
        location={"latitude": 34.05, "longitude": -118.25, "accuracy_m": 12},
    )
    refused = client.post(API, json={"token": link["token"], "mime_type": "video/webm"})
    assert refused.status_code == 403 and refused.json()["code"] == "token_used"
    assert client.post(API, json={"token": "nope", "mime_type": "video/webm"}).status_code == 401

    parts = split_clusters(make_webm())
    offset = 0
    for index, part in enumerate(parts):
        response = patch(client, sid, key, index, offset, part)
        assert response.status_code == 200, response.text
        offset += len(part)
        assert response.headers["Upload-Offset"] == str(offset)
    head = client.head(f"{API}/{sid}", headers=key)
    assert head.headers["Upload-Offset"] == str(offset)
    assert head.headers["Chunk-Index"] == str(len(parts))
    assert client.head(f"{API}/{sid}", headers={"Capture-Key": "x"}).status_code == 401

    # an exact resend is answered with the same ack; different bytes are refused
    again = patch(client, sid, key, 0, 0, parts[0])
    assert again.status_code == 200 and again.headers["Chunk-Duplicate"] == "1"
    forged = patch(client, sid, key, 0, 0, b"forged" + parts[0])
    assert forged.status_code == 409 and forged.json()["code"] == "chunk_conflict"
    wrong = patch(client, sid, key, len(parts), offset + 1, b"next")
    assert wrong.status_code == 409 and wrong.headers["Upload-Offset"] == str(offset)
    corrupted = patch(client, sid, key, len(parts), offset, b"next", **{"Chunk-SHA256": sha(b"x")})
    assert corrupted.status_code == 460
    missing = client.patch(f"{API}/{sid}", content=b"x", headers={**key, "Upload-Offset": "0"})
    assert missing.status_code == 400

    # investigators see it live, with its saved-up-to time, and can play what is saved
    listing = client.get("/api/v1/captures", headers=investigator).json()["captures"]
    assert listing[0]["id"] == sid and listing[0]["saved_up_to"] == f"00:{2 * len(parts):02d}"
    detail = client.get(f"/api/v1/captures/{sid}", headers=investigator).json()
    assert detail["location"]["latitude"] == 34.05 and detail["chunks"] == len(parts)
    assert client.get(f"/api/v1/captures/{sid}").status_code == 401

    done = client.post(f"{API}/{sid}/finish", json={"chunks": len(parts)}, headers=key)
    assert done.status_code == 200 and done.json()["status"] == "finished"
    closed = patch(client, sid, key, len(parts), offset, b"late")
    assert closed.status_code == 409 and closed.json()["code"] == "session_closed"
    report = verify_vault(vault)
    assert report.ok, report.problems


def test_oversized_chunk_is_refused_before_reading(
    client: TestClient, investigator: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTIGO_CAPTURE_MAX_CHUNK_BYTES", "1000")
    sid, key = open_capture(client, new_link(client, investigator)["token"])
    response = patch(client, sid, key, 0, 0, b"x" * 1001)
    assert response.status_code == 413 and response.json()["code"] == "chunk_too_large"
    assert client.head(f"{API}/{sid}", headers=key).headers["Upload-Offset"] == "0"


def test_expired_link_is_refused(
    client: TestClient, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testigo.vault import ledger

    made = service.create_token(vault, actor="test", hours=0.01)
    monkeypatch.setattr(ledger, "utc_now", lambda: "2999-01-01T00:00:00.000000Z")
    response = client.post(API, json={"token": made.token, "mime_type": "video/webm"})
    assert response.status_code == 401 and "expired" in response.json()["error"]


def test_links_listed_and_revoked_by_api(
    client: TestClient, investigator: dict[str, str], vault: Vault
) -> None:
    made = new_link(client, investigator, uses=2)
    assert made["uses"] == 2
    listed = client.get("/api/v1/capture/tokens", headers=investigator).json()["links"]
    assert [(row["id"], row["state"], row["uses"]) for row in listed] == [(made["id"], "active", 2)]
    open_capture(client, made["token"])
    response = client.post(f"/api/v1/capture/tokens/{made['id']}/revoke", headers=investigator)
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    refused = client.post(API, json={"token": made["token"], "mime_type": "video/webm"})
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    again = client.post(f"/api/v1/capture/tokens/{made['id']}/revoke", headers=investigator)
    assert again.status_code >= 400 and "already revoked" in again.json()["error"]
    missing = client.post("/api/v1/capture/tokens/999/revoke", headers=investigator)
    assert missing.status_code == 404
    assert client.get("/api/v1/capture/tokens").status_code == 401
    assert verify_vault(vault).ok


def test_pages_in_english_and_spanish(
    client: TestClient, investigator: dict[str, str], vault: Vault
) -> None:
    made = service.create_token(vault, actor="test")
    page = client.get(f"/capture/{made.token}")
    assert page.status_code == 200 and "Record what is happening" in page.text
    assert "camera=(self)" in page.headers["permissions-policy"]
    assert "<script>" not in page.text and "style=" not in page.text
    spanish = client.get(f"/capture/{made.token}?lang=es")
    assert "Graba lo que está pasando" in spanish.text and "Guardado hasta" in spanish.text
    assert client.get("/capture/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/capture.js").status_code == 200
    bare = client.get("/capture", headers={"Accept-Language": "es"})
    assert "Abre el enlace" in bare.text
    assert client.get("/captures", follow_redirects=False).status_code == 303


def test_investigator_pages_attach_and_close(
    client: TestClient, investigator: dict[str, str], vault: Vault
) -> None:
    from testigo.db.models import Incident
    from testigo.vault import ledger

    with vault.transaction() as session:
        incident = Incident(title="Car stop", created_at=ledger.utc_now(), created_by="test")
        session.add(incident)
        session.flush()
        incident_id = incident.id
    sid, key = open_capture(client, new_link(client, investigator)["token"])
    parts = split_clusters(make_webm())
    patch(client, sid, key, 0, 0, parts[0])
    patch(client, sid, key, 1, len(parts[0]), parts[1])
    page = client.get(f"/captures/{sid}", headers=investigator)
    assert page.status_code == 200 and "00:04" in page.text
    assert client.get("/captures", headers=investigator).status_code == 200
    played = client.get(f"/captures/{sid}/recording", headers=investigator)
    assert played.content == parts[0] + parts[1] and decoded_frames(played.content) > 0
    attached = client.post(
        f"/api/v1/captures/{sid}/attach", json={"incident_id": incident_id}, headers=investigator
    )
    assert attached.status_code == 200 and attached.json()["incident_id"] == incident_id
    closed = client.post(f"/api/v1/captures/{sid}/close", headers=investigator)
    assert closed.json()["status"] == "abandoned" and closed.json()["chunks"] == 2
    page = client.get(f"/captures/{sid}", headers=investigator)
    assert 'id="watch-closed"' in page.text and "capture.abandon" not in page.text
    assert "web:" in page.text.split('id="watch-closed"', 1)[1].split("</dd>", 1)[0]
    link_page = client.post(
        "/captures/links", data={"csrf_token": "", "label": "x", "uses": "3"}, headers=investigator
    )
    assert link_page.status_code == 200 and "data:image/svg+xml" in link_page.text
    links = client.get("/api/v1/capture/tokens", headers=investigator).json()
    assert any(t["label"] == "x" and t["uses"] == 3 for t in links["links"])
    refused = client.post(
        "/captures/links", data={"csrf_token": "", "label": "y", "uses": "0"}, headers=investigator
    )
    assert refused.status_code in (400, 422)
    assert verify_vault(vault).ok


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept one message (a loopback server, nothing leaves the machine)."""

    messages: ClassVar[list[str]] = []

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        data: list[str] = []
        in_data = False
        while line := self.rfile.readline():
            text = line.decode("utf-8", "replace")
            if in_data:
                if text.rstrip("\r\n") == ".":
                    in_data = False
                    _Smtp.messages.append("".join(data))
                    self.wfile.write(b"250 queued\r\n")
                else:
                    data.append(text)
                continue
            verb = text[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 test\r\n")
            elif verb == "DATA":
                in_data = True
                self.wfile.write(b"354 go ahead\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def loopback_servers() -> Iterator[tuple[str, int]]:
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    for server in (hook, smtp):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{hook.server_address[1]}/alert", smtp.server_address[1]
    finally:
        hook.shutdown()
        smtp.shutdown()


def test_alert_my_contacts_by_webhook_and_email(
    vault: Vault, loopback_servers: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook_url, smtp_port = loopback_servers
    monkeypatch.setenv("TESTIGO_ALERT_WEBHOOKS", hook_url)
    monkeypatch.setenv("TESTIGO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TESTIGO_SMTP_PORT", str(smtp_port))
    monkeypatch.setenv("TESTIGO_SMTP_FROM", "alerts@example.org")
    made = service.create_token(vault, actor="test", emails=["lawyer@example.org"])
    opened = service.open_session(vault, made.token, mime_type="video/webm", alert=True)
    payload = alerts.message(opened.public_id, "http://x/captures/1", opened.started_at, {})
    thread = alerts.alert_in_background(vault, payload, opened.contacts)
    assert thread is not None
    thread.join(20)
    assert _Hook.received[-1]["session"] == opened.public_id
    assert any("http://x/captures/1" in m and "lawyer@example.org" in m for m in _Smtp.messages)
    from testigo.vault import ledger

    with vault.reading() as session:
        entries = ledger.entries_for_subject(session, f"capture:{opened.public_id}")
    alert = next(e for e in entries if e.entry_type == "capture.alert")
    assert "webhook:127.0.0.1" in alert.body.decode()


def test_alert_failure_is_recorded_not_raised(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTIGO_ALERT_WEBHOOKS", "http://127.0.0.1:9/nothing-listens")
    monkeypatch.delenv("TESTIGO_SMTP_HOST", raising=False)
    outcome = alerts.send_alerts(
        vault,
        {"session": "s", "follow_url": "u", "started_at": "t"},
        *alerts.recipients({"emails": ["a@b.c"]}),
    )
    assert not outcome.sent and "email" in outcome.failed and len(outcome.failed) == 2


def test_a_links_own_webhook_cannot_reach_the_servers_network(
    vault: Vault, loopback_servers: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Webhooks typed into a capture link are guarded; the deployment's own are trusted."""
    hook_url, _ = loopback_servers
    monkeypatch.delenv("TESTIGO_ALERT_WEBHOOKS", raising=False)
    monkeypatch.delenv("TESTIGO_SMTP_HOST", raising=False)
    monkeypatch.delenv("TESTIGO_FETCH_ALLOW_PRIVATE", raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    received = len(_Hook.received)
    payload = {"session": "s1", "follow_url": "u", "started_at": "t"}
    outcome = alerts.send_alerts(vault, payload, *alerts.recipients({"webhooks": [hook_url]}))
    assert not outcome.sent
    assert "private or local network address" in outcome.failed[f"webhook:{hook_url.split('/')[2]}"]
    assert len(_Hook.received) == received  # nothing was posted

    monkeypatch.setenv("TESTIGO_ALERT_WEBHOOKS", hook_url)
    outcome = alerts.send_alerts(vault, payload, *alerts.recipients({}))
    assert outcome.sent == [f"webhook:{hook_url.split('/')[2]}"]
    assert len(_Hook.received) == received + 1

    monkeypatch.delenv("TESTIGO_ALERT_WEBHOOKS")
    monkeypatch.setenv("TESTIGO_FETCH_ALLOW_PRIVATE", "1")
    outcome = alerts.send_alerts(vault, payload, *alerts.recipients({"webhooks": [hook_url]}))
    assert outcome.sent and len(_Hook.received) == received + 2
