"""Redaction from the web API: queued as a background job, refused to those who may not."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from testigo.records.incidents import create_incident
from testigo.vault.ingest import Acquired, ingest_paths
from testigo.vault.service import Vault

from .conftest import Account


def _video_item(vault: Vault, tmp_path: Path) -> int:
    incident = create_incident(vault, "Alder Street", actor="t")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2000)
    report = ingest_paths(vault, [clip], Acquired(actor="t", incident_id=incident.id))
    return report.ingested[0].item_id


def test_redaction_is_queued_and_visible(
    vault: Vault, app_client: TestClient, users: dict[str, Account], tmp_path: Path
) -> None:
    item = _video_item(vault, tmp_path)
    investigator = users["investigator"]
    response = app_client.post(
        f"/api/v1/items/{item}/redact",
        json={"faces": "all", "mute": ["1.0-2.0"], "boxes": ["0,0,10,10@0-1"]},
        headers=investigator.headers,
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["step"] == "redact" and job["status"] == "queued"
    status = app_client.get(f"/api/v1/jobs/{job['job_id']}", headers=investigator.headers)
    assert status.status_code == 200
    body = status.json()
    assert body["params"]["mute"] == ["1.0-2.0"]
    assert body["params"]["actor"] == "web:investigator"


def test_redaction_refusals(
    vault: Vault, app_client: TestClient, users: dict[str, Account], tmp_path: Path
) -> None:
    item = _video_item(vault, tmp_path)
    for role in ("viewer", "contributor"):
        response = app_client.post(
            f"/api/v1/items/{item}/redact", json={}, headers=users[role].headers
        )
        assert response.status_code == 403, (role, response.text)
    missing = app_client.post(
        "/api/v1/items/99999/redact", json={}, headers=users["investigator"].headers
    )
    assert missing.status_code == 404
    unauthenticated = app_client.post(f"/api/v1/items/{item}/redact", json={})
    assert unauthenticated.status_code == 401


def test_redaction_form_on_the_item_page(
    vault: Vault, app_client: TestClient, users: dict[str, Account], tmp_path: Path
) -> None:
    from .conftest import login

    item = _video_item(vault, tmp_path)
    csrf = login(app_client, "investigator")
    page = app_client.get(f"/items/{item}")
    assert page.status_code == 200 and 'action="/items/' in page.text
    refused = app_client.post(f"/items/{item}/redact", data={"csrf_token": "wrong", "faces": "all"})
    assert refused.status_code in (400, 403)
    done = app_client.post(
        f"/items/{item}/redact",
        data={"csrf_token": csrf, "faces": "all", "mute": "1-2"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = app_client.get(f"/items/{item}")
    assert "redact" in page.text and "queued" in page.text
