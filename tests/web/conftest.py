"""Web fixtures: an app on this test's vault, and one account (with an API token) per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from testigo.config import Settings
from testigo.vault.service import Vault
from testigo.web import accounts
from testigo.web.app import create_app

ROLES = ("admin", "investigator", "contributor", "viewer")
PASSWORD = "correct horse battery"


@dataclass
class Account:
    name: str
    role: str
    token: str
    user_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def app_client(vault: Vault, settings: Settings) -> Iterator[TestClient]:
    accounts.forget_cached()
    app = create_app(settings)
    with TestClient(app) as client:
        yield client
    accounts.forget_cached()


@pytest.fixture
def users(vault: Vault) -> dict[str, Account]:
    out: dict[str, Account] = {}
    for role in ROLES:
        user, _ = accounts.create_user(vault, role, role, actor="test", password=PASSWORD)
        _, token = accounts.create_token(vault, user.id, "tests", actor="test")
        out[role] = Account(role, role, token, user.id)
    return out


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the CSRF token of the session."""
    page = client.get("/login")
    token = client.cookies.get("testigo_login_csrf")
    assert page.status_code == 200 and token
    response = client.post(
        "/login",
        data={"name": name, "password": password, "login_csrf": token, "next": "/incidents"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/incidents")
    marker = 'name="csrf-token" content="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]
