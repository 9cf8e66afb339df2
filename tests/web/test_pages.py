"""Pages as a browser sees them: login, CSRF, escaping, security headers, languages, downloads."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from testigo.vault.service import Vault
from testigo.web import accounts
from testigo.web.accounts import Principal

from .conftest import PASSWORD, Account, login

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_login_logout_and_redirects(app_client: TestClient, users: dict[str, Account]) -> None:
    first = app_client.get("/incidents", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login")
    csrf = login(app_client, "viewer")
    cookie = app_client.cookies.get("testigo_session")
    assert cookie
    page = app_client.get("/incidents")
    assert page.status_code == 200 and "viewer" in page.text
    app_client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    accounts.forget_cached()
    assert app_client.get("/incidents", follow_redirects=False).status_code == 303


def test_session_cookie_flags(app_client: TestClient, users: dict[str, Account]) -> None:
    app_client.get("/login")
    token = app_client.cookies.get("testigo_login_csrf")
    response = app_client.post(
        "/login",
        data={"name": "viewer", "password": PASSWORD, "login_csrf": token},
        follow_redirects=False,
    )
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    https = TestClient(app_client.app, base_url="https://testserver")
    https.get("/login")
    token = https.cookies.get("testigo_login_csrf")
    secure = https.post(
        "/login",
        data={"name": "viewer", "password": PASSWORD, "login_csrf": token},
        follow_redirects=False,
    )
    assert "secure" in secure.headers["set-cookie"].lower()


def test_login_needs_its_form_token(app_client: TestClient, users: dict[str, Account]) -> None:
    response = app_client.post("/login", data={"name": "viewer", "password": PASSWORD})
    assert response.status_code == 403
    assert app_client.cookies.get("testigo_session") is None


def test_login_rate_limit(app_client: TestClient, users: dict[str, Account]) -> None:
    app_client.get("/login")
    token = app_client.cookies.get("testigo_login_csrf")
    codes = [
        app_client.post(
            "/login", data={"name": "viewer", "password": "wrong-password", "login_csrf": token}
        ).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    right = app_client.post(
        "/login", data={"name": "viewer", "password": PASSWORD, "login_csrf": token}
    )
    assert right.status_code == 429  # still refused: the right password does not lift the limit


def test_forms_refuse_missing_csrf(app_client: TestClient, users: dict[str, Account]) -> None:
    csrf = login(app_client, "contributor")
    refused = app_client.post("/incidents/new", data={"title": "x", "csrf_token": "forged"})
    assert refused.status_code == 403
    made = app_client.post(
        "/incidents/new", data={"title": "By form", "csrf_token": csrf}, follow_redirects=False
    )
    assert made.status_code == 303 and re.match(r"/incidents/\d+$", made.headers["location"])


def test_security_headers_everywhere(app_client: TestClient, users: dict[str, Account]) -> None:
    login(app_client, "viewer")
    for path in ("/incidents", "/login", "/static/app.css", "/api/v1/me", "/nope"):
        response = app_client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"


def test_hostile_text_is_escaped(
    app_client: TestClient, users: dict[str, Account], vault: Vault
) -> None:
    from testigo.web import editing

    admin = Principal(users["admin"].user_id, "admin", "admin", "token")
    incident = editing.create_incident(vault, admin, title=HOSTILE, summary=HOSTILE)
    login(app_client, "viewer")
    for path in (f"/incidents/{incident}", "/incidents", f"/incidents?q={HOSTILE}"):
        page = app_client.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page
    evil = app_client.get(f"/lang/es?next=javascript:{HOSTILE}", follow_redirects=False)
    assert evil.headers["location"] == "/incidents"


def test_language_by_header_and_switch(app_client: TestClient, users: dict[str, Account]) -> None:
    login(app_client, "viewer")
    spanish = app_client.get("/incidents", headers={"Accept-Language": "es-MX,es;q=0.9"})
    assert '<html lang="es">' in spanish.text and "Incidentes" in spanish.text
    english = app_client.get("/incidents", headers={"Accept-Language": "fr, en;q=0.5"})
    assert '<html lang="en">' in english.text
    switched = app_client.get("/lang/es?next=/map", follow_redirects=False)
    assert switched.headers["location"] == "/map"
    assert "Mapa de incidentes" in app_client.get("/map").text
    evil = app_client.get("/lang/en?next=//evil.example/", follow_redirects=False)
    assert evil.headers["location"] == "/incidents"


def test_pages_and_json_twins(app_client: TestClient, users: dict[str, Account]) -> None:
    admin = users["admin"]
    made = app_client.post(
        "/api/v1/incidents", json={"title": "Twin"}, headers=admin.headers
    ).json()
    login(app_client, "admin")
    for page, twin in (
        ("/incidents", "/incidents.json"),
        (f"/incidents/{made['id']}", f"/incidents/{made['id']}.json"),
        ("/map", "/map.json"),
        ("/stats", "/stats.json"),
    ):
        assert app_client.get(page).status_code == 200, page
        data = app_client.get(twin)
        assert data.status_code == 200 and data.headers["content-type"] == "application/json"
    assert app_client.get("/incidents.json").json()["incidents"][0]["title"] == "Twin"
    assert "built-in method" not in app_client.get("/incidents").text
    for page in (
        "/account",
        "/admin/users",
        f"/incidents/{made['id']}/add",
        f"/incidents/{made['id']}/edit",
        "/incidents/new",
    ):
        assert app_client.get(page).status_code == 200, page


def test_role_pages_refused(app_client: TestClient, users: dict[str, Account]) -> None:
    login(app_client, "viewer")
    for page in ("/admin/users", "/incidents/new"):
        response = app_client.get(page)
        assert response.status_code == 403, page
        assert "Not allowed" in response.text


def test_admin_creates_user_and_password_is_shown_once(
    app_client: TestClient, users: dict[str, Account]
) -> None:
    csrf = login(app_client, "admin")
    page = app_client.post(
        "/admin/users", data={"name": "nuevo", "role": "viewer", "csrf_token": csrf}
    )
    password = re.search(r'id="new-password">([^<]+)<', page.text)
    assert password
    assert password.group(1) not in app_client.get("/admin/users").text
    other = TestClient(app_client.app)
    login(other, "nuevo", password.group(1))


def test_evidence_pages_and_downloads(app_client: TestClient, users: dict[str, Account]) -> None:
    contributor = users["contributor"]
    incident = app_client.post(
        "/api/v1/incidents", json={"title": "Clip"}, headers=contributor.headers
    ).json()["id"]
    created = app_client.post(
        "/api/v1/uploads",
        json={"name": "page.html", "size": len(HOSTILE), "incident_id": incident},
        headers=contributor.headers,
    ).json()
    done = app_client.patch(
        created["location"],
        content=HOSTILE.encode(),
        headers={**contributor.headers, "Upload-Offset": "0"},
    ).json()
    login(app_client, "viewer")
    item = done["item_id"]
    page = app_client.get(f"/items/{item}")
    assert page.status_code == 200 and done["result"]["sha256"] in page.text
    content = app_client.get(f"/items/{item}/content")
    assert content.headers["content-type"].split(";")[0] in {
        "text/plain",
        "application/octet-stream",
    }
    assert "sandbox" in content.headers["content-security-policy"]
    download = app_client.get(f"/items/{item}/download")
    assert download.content == HOSTILE.encode()
    assert 'filename="page.html"' in download.headers["content-disposition"]
    for bad in (
        "/items/..%2F..%2Fetc%2Fpasswd/download",
        "/static/../models.py",
        "/items/-1/download",
    ):
        assert app_client.get(bad).status_code == 404, bad
