"""Content Credentials on the item page, in its JSON twin and in the incident record."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from protect.test_c2pa_step import photo, run_c2pa_jobs, signed_photo
from testigo.records.incidents import create_incident
from testigo.records.record import incident_record
from testigo.vault.ingest import Acquired, ingest_paths
from testigo.vault.service import Vault

from .conftest import Account, login

HOSTILE = 'box <script>alert("x")</script> hidden'


def _ingest(vault: Vault, path: Path, incident_id: int) -> int:
    report = ingest_paths(vault, [path], Acquired(actor="t", incident_id=incident_id))
    return report.ingested[0].item_id


def test_item_page_api_and_record_show_credentials(
    vault: Vault, app_client: TestClient, users: dict[str, Account], tmp_path: Path
) -> None:
    incident = create_incident(vault, "Alder Street", actor="t")
    signed, _ = signed_photo(vault, tmp_path, description=HOSTILE)
    parent = _ingest(vault, tmp_path / "parent-of-signed.jpg", incident.id)
    copy = _ingest(vault, signed, incident.id)
    data = bytearray(signed.read_bytes())
    data[-100] ^= 0xFF
    tampered_path = tmp_path / "tampered.jpg"
    tampered_path.write_bytes(bytes(data))
    tampered = _ingest(vault, tampered_path, incident.id)
    plain = _ingest(vault, photo(tmp_path / "plain.jpg", seed=5), incident.id)
    notes = tmp_path / "notes.txt"
    notes.write_text("no credentials can live here\n")
    text = _ingest(vault, notes, incident.id)

    # Before the step ran, the page says the credentials were not read yet.
    login(app_client, "admin")
    before = app_client.get(f"/items/{copy}")
    assert before.status_code == 200
    assert "Content Credentials (C2PA)" in before.text and "Not read yet" in before.text
    run_c2pa_jobs(vault)

    headers = users["admin"].headers
    body = app_client.get(f"/api/v1/items/{copy}", headers=headers).json()
    c2pa = body["c2pa"]
    assert c2pa["status"] == "trusted" and c2pa["signer"]["common_name"]
    assert [a["action"] for a in c2pa["actions"]][:2] == ["c2pa.opened", "c2pa.filtered"]
    assert c2pa["ingredients"][0]["item_id"] == parent
    assert c2pa["ingredients"][0]["relationship"] == "parentOf"
    assert app_client.get(f"/items/{copy}.json").json()["c2pa"] == c2pa

    page = app_client.get(f"/items/{copy}").text
    section = page[page.index('id="c2pa"') : page.index("</section>", page.index('id="c2pa"'))]
    assert "valid, trusted signer" in section
    assert "Testigo redaction signer" in section and "Testigo vault" in section
    assert "c2pa.filtered" in section
    assert "box &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; hidden" in section
    assert f'<a href="/items/{parent}">item {parent}</a>' in section and "parentOf" in section
    assert "<script" not in section

    page = app_client.get(f"/items/{tampered}").text
    assert "invalid" in page and "assertion.dataHash.mismatch" in page
    assert (
        app_client.get(f"/api/v1/items/{tampered}", headers=headers).json()["c2pa"]["status"]
        == "invalid"
    )
    page = app_client.get(f"/items/{plain}").text
    assert "No Content Credentials" in page
    assert (
        app_client.get(f"/api/v1/items/{plain}", headers=headers).json()["c2pa"]["present"] is False
    )
    # Text cannot carry credentials: no section at all.
    assert 'id="c2pa"' not in app_client.get(f"/items/{text}").text
    assert app_client.get(f"/api/v1/items/{text}", headers=headers).json()["c2pa"] is None

    # Spanish.
    app_client.cookies.set("lang", "es")
    page = app_client.get(f"/items/{copy}").text
    assert "Credenciales de contenido (C2PA)" in page and "firmante de confianza" in page
    assert "Sin credenciales de contenido" in app_client.get(f"/items/{plain}").text

    # The incident record carries each item's summary, citing its ledger entry.
    record = incident_record(vault, incident.id)
    by_item = {c["item"]: c for c in record["content_credentials"]}
    assert by_item[copy]["status"] == "trusted" and by_item[copy]["ledger_seq"]
    assert by_item[copy]["ingredients"][0]["item_id"] == parent
    assert by_item[tampered]["status"] == "invalid"
    assert by_item[plain]["present"] is False
    assert text not in by_item
