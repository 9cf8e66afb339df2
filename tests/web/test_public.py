"""Public pages: public incidents only, no account needed, names of private people withheld."""

from __future__ import annotations

from fastapi.testclient import TestClient

from testigo.demo import EXAMPLE_ARTICLE, EXAMPLE_STATEMENT
from testigo.records.importer import import_article
from testigo.records.incidents import update_incident
from testigo.vault.service import Vault

from .conftest import Account, login


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


def test_a_source_url_that_is_not_http_is_never_a_link(
    vault: Vault, app_client: TestClient, users: dict[str, Account]
) -> None:
    """A pasted article may claim any address as its source: only http(s) ones become links."""
    hostile = "javascript:alert(document.cookie)"
    result = import_article(
        vault, EXAMPLE_ARTICLE.encode(), filename="news.txt", url=hostile, actor="t"
    )
    login(app_client, "admin")
    page = app_client.get(f"/incidents/{result.incident_id}")
    assert page.status_code == 200
    assert 'href="javascript:' not in page.text
    assert hostile in page.text  # shown as text, so a reader sees what was claimed


def test_only_http_addresses_are_web_links() -> None:
    from testigo.web.pages import is_web_link

    assert is_web_link("https://news.example/story")
    assert is_web_link("HTTP://news.example")
    for bad in ("javascript:alert(1)", " javascript:x", "data:text/html,x", "http://", "/x", None):
        assert not is_web_link(bad)
