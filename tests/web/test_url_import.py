"""Importing an article by URL from the web API: the server never fetches its own network."""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pytest
from fastapi.testclient import TestClient

from testigo.demo import EXAMPLE_ARTICLE

from .conftest import Account

PAGE = (
    "<html><head><title>Window broken during an arrest</title></head><body><article>"
    + "".join(f"<p>{p}</p>" for p in EXAMPLE_ARTICLE.split("\n\n"))
    + "</article></body></html>"
).encode()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)


@pytest.fixture
def internal_site(serve_http: Callable[[type[BaseHTTPRequestHandler]], str]) -> str:
    return serve_http(_Handler) + "/story"


def test_url_on_the_servers_own_network_is_refused(
    app_client: TestClient, users: dict[str, Account], internal_site: str
) -> None:
    headers = users["contributor"].headers
    before = app_client.get("/api/v1/incidents", headers=headers).json()
    refused = app_client.post("/api/v1/articles", json={"url": internal_site}, headers=headers)
    assert refused.status_code == 400
    assert "private or local network address" in refused.text
    metadata = app_client.post(
        "/api/v1/articles",
        json={"url": "http://169.254.169.254/latest/meta-data/"},
        headers=headers,
    )
    assert metadata.status_code == 400 and "private or local" in metadata.text
    after = app_client.get("/api/v1/incidents", headers=headers).json()
    assert after == before  # nothing was created


def test_url_import_when_the_deployment_allows_its_network(
    app_client: TestClient,
    users: dict[str, Account],
    internal_site: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESTIGO_FETCH_ALLOW_PRIVATE", "1")
    headers = users["contributor"].headers
    created = app_client.post("/api/v1/articles", json={"url": internal_site}, headers=headers)
    assert created.status_code == 201, created.text
    incident = created.json()["incident_id"]
    record = app_client.get(f"/api/v1/incidents/{incident}", headers=headers).json()
    assert [s["url"] for s in record["sources"]] == [internal_site]
    assert record["timeline"]
