"""Public pages: public incidents only, no account needed, names of private people withheld."""

from __future__ import annotations

from fastapi.testclient import TestClient

from testigo.demo import EXAMPLE_ARTICLE, EXAMPLE_STATEMENT
from testigo.records.importer import import_article
from testigo.records.incidents import update_incident
from testigo.vault.service import Vault


def _incident(vault: Vault) -> int:
    first = import_article(vault, EXAMPLE_ARTICLE.encode(), filename="news.txt", actor="t")
    import_article(
        vault,
        EXAMPLE_STATEMENT.encode(),
        filename="statement.txt",
        actor="t",
        incident_id=first.incident_id,
        kind="official_statement",
    )
    return first.incident_id


def test_restricted_incident_is_not_public(vault: Vault, app_client: TestClient) -> None:
    incident = _incident(vault)
    assert app_client.get(f"/public/incidents/{incident}").status_code == 404
    assert app_client.get(f"/public/incidents/{incident}.json").status_code == 404
    assert app_client.get("/public.json").json() == {"incidents": []}


def test_public_incident_without_account(vault: Vault, app_client: TestClient) -> None:
    incident = _incident(vault)
    update_incident(vault, incident, "confidentiality", "public", reason="family agreed", actor="t")
    listing = app_client.get("/public.json").json()["incidents"]
    assert [r["incident_id"] for r in listing] == [incident]
    record = app_client.get(f"/public/incidents/{incident}.json").json()
    assert record["city"] == "Salem"
    assert record["timeline"], "the timeline is shown"
    assert "Dana Whitlock" in record["public_people"]
    page = app_client.get(f"/public/incidents/{incident}")
    assert page.status_code == 200
    for body in (page.text, str(record)):
        assert "Arbolada" not in body and "Marisela" not in body
    assert "[name withheld]" in str(record)
    assert "default-src 'self'" in page.headers["content-security-policy"]
