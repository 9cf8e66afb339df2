"""Consistency proofs over the API: checked against roots from signed checkpoints alone."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from testigo.vault import merkle
from testigo.vault.service import Vault

from .conftest import Account


def _signed(client: TestClient, who: Account) -> tuple[int, bytes]:
    data = client.get("/api/v1/checkpoint", headers=who.headers).json()
    _origin, size, root = data["checkpoint"]["note"].split("\n")[:3]
    return int(size), base64.b64decode(root)


def test_consistency_proof_between_checkpoints(
    app_client: TestClient, users: dict[str, Account], vault: Vault
) -> None:
    viewer = users["viewer"]
    vault.checkpoint()
    old_size, old_root = _signed(app_client, viewer)
    for title in ("One", "Two", "Three"):
        created = app_client.post(
            "/api/v1/incidents", json={"title": title}, headers=users["contributor"].headers
        )
        assert created.status_code == 201
    vault.checkpoint()
    new_size, new_root = _signed(app_client, viewer)
    assert new_size > old_size
    answer = app_client.get(
        "/api/v1/consistency",
        params={"old_size": old_size, "new_size": new_size},
        headers=viewer.headers,
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()
    proof = [bytes.fromhex(h) for h in data["proof"]]
    assert (data["old_size"], data["new_size"]) == (old_size, new_size)
    assert merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
    assert not merkle.verify_consistency(old_size, new_size, new_root, new_root, proof)
    same = app_client.get(
        "/api/v1/consistency",
        params={"old_size": new_size, "new_size": new_size},
        headers=viewer.headers,
    )
    assert same.json()["proof"] == []
    for old, new in ((new_size, old_size), (0, new_size + 1000)):
        refused = app_client.get(
            "/api/v1/consistency", params={"old_size": old, "new_size": new}, headers=viewer.headers
        )
        assert refused.status_code == 400
        assert "consistency" in refused.json()["error"]
    negative = app_client.get(
        "/api/v1/consistency", params={"old_size": -1, "new_size": 2}, headers=viewer.headers
    )
    assert negative.status_code == 422
    assert app_client.get("/api/v1/consistency?old_size=1&new_size=2").status_code == 401
