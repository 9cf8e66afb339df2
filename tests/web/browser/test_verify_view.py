"""The browser's own view of the log: verify.js remembers the last checkpoint it verified and
checks that each later one extends it (RFC 9162 consistency proofs), and says so when the log's
history no longer matches what it saw before."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from testigo.config import Settings
from testigo.demo import load_example
from testigo.vault import merkle
from testigo.vault.service import open_vault
from testigo.web import accounts, editing
from testigo.web.accounts import Principal

pytestmark = pytest.mark.browser
PASSWORD = "browser-test-password"


@pytest.fixture
def example(browser_settings: Settings) -> int:
    vault = open_vault(browser_settings)
    try:
        incident = load_example(vault, actor="test:browser").incident_id
        accounts.create_user(vault, "ana", "admin", actor="test", password=PASSWORD)
    finally:
        vault.dispose()
    return incident


def _append_and_sign(settings: Settings, title: str) -> int:
    """New ledger entries and a new signed checkpoint, as another user's work would make."""
    vault = open_vault(settings)
    try:
        boss = Principal(1, "ana", "admin", "token")
        editing.create_incident(vault, boss, title=title)
        return int(vault.checkpoint().tree_size)
    finally:
        vault.dispose()


def _verify(page: Any, item_id: str) -> Any:
    result = page.locator(f"#verify-{item_id}")
    page.evaluate(f"document.getElementById('verify-{item_id}').dataset.state = 'working'")
    page.locator(f"button.verify[data-item-id='{item_id}']").click()
    page.locator(f"#verify-{item_id}:not([data-state=working])").wait_for(
        state="attached", timeout=30_000
    )
    return result


def _open(page: Any, base: str, incident: int) -> str:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/incidents$"))
    page.goto(f"{base}/incidents/{incident}#evidence")
    return str(page.locator("button.verify").first.get_attribute("data-item-id"))


def _view(page: Any) -> tuple[str, dict[str, Any]]:
    slots = page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('testigo.checkpoint.'))"
    )
    assert len(slots) == 1, slots
    return slots[0], json.loads(page.evaluate(f"localStorage.getItem({json.dumps(slots[0])})"))


def test_later_checkpoints_must_extend_the_one_seen_before(
    example: int, browser_settings: Settings, live_server: str, chromium: Any
) -> None:
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    item_id = _open(page, live_server, example)

    first = _verify(page, item_id)
    assert first.get_attribute("data-state") == "ok", first.inner_text()
    assert first.get_attribute("data-consistency") == "first"
    slot, seen = _view(page)
    assert seen["size"] > 0 and len(seen["root"]) == 64

    # Others keep working: the log grows and a new checkpoint is signed.
    grown = _append_and_sign(browser_settings, "Another stop")
    assert grown > seen["size"]
    second = _verify(page, item_id)
    assert second.get_attribute("data-state") == "ok", second.inner_text()
    assert second.get_attribute("data-consistency") == "consistent"
    assert f"consistent with the checkpoint you verified before ({seen['size']})" in (
        second.inner_text()
    )
    _, now = _view(page)
    assert now["size"] == grown

    # Same checkpoint again: nothing to prove, the roots must match.
    third = _verify(page, item_id)
    assert third.get_attribute("data-consistency") == "same"

    # A remembered checkpoint the server's log does not extend: an older tree head with another
    # root, as a log that rewrote its history would present.
    forged = {**now, "size": seen["size"], "root": hashlib.sha256(b"another past").hexdigest()}
    page.evaluate(f"localStorage.setItem({json.dumps(slot)}, {json.dumps(json.dumps(forged))})")
    _append_and_sign(browser_settings, "A third stop")
    split = _verify(page, item_id)
    assert split.get_attribute("data-state") == "split", split.inner_text()
    assert split.get_attribute("data-consistency") == "inconsistent"
    assert "history was rewritten" in split.inner_text()
    # The remembered view is kept, so the warning does not go away by itself.
    assert _view(page)[1] == forged

    # The same size with another root is a split view too.
    _, current = _view(page)
    same_size = {**current, "size": _append_and_sign(browser_settings, "A fourth stop")}
    page.evaluate(f"localStorage.setItem({json.dumps(slot)}, {json.dumps(json.dumps(same_size))})")
    assert _verify(page, item_id).get_attribute("data-consistency") == "inconsistent"
    assert not errors, errors
    context.close()


def test_consistency_check_matches_the_python_verifier(
    example: int, live_server: str, chromium: Any
) -> None:
    """verify.js's RFC 9162 consistency check, against proofs made by testigo.vault.merkle:
    every true proof passes, and every altered proof, root or size fails."""
    store = merkle.MemoryNodeStore.from_entries(f"entry {i}".encode() for i in range(70))
    cases = []
    for old in (0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 32, 33, 64, 70):
        for new in (old, old + 1, old + 6, 64, 70):
            if not old <= new <= 70:
                continue
            proof = merkle.consistency_proof(old, new, store.get_nodes)
            old_root = merkle.tree_root(old, store.get_nodes)
            new_root = merkle.tree_root(new, store.get_nodes)
            assert merkle.verify_consistency(old, new, old_root, new_root, proof)
            cases.append([old, new, old_root.hex(), new_root.hex(), [h.hex() for h in proof]])
    page = chromium.new_context().new_page()
    page.goto(f"{live_server}/login")
    page.add_script_tag(url="/static/verify.js")
    outcome = page.evaluate(
        """async (cases) => {
          const hex = (t) => Uint8Array.from(t.match(/../g) || [], (b) => parseInt(b, 16));
          const flip = (t) => (t[0] === "0" ? "1" : "0") + t.slice(1);
          const check = (o, n, a, b, p) =>
            window.testigoVerify.verifyConsistency(o, n, hex(a), hex(b), p.map(hex));
          const out = { good: [], bad: [] };
          for (const [o, n, a, b, p] of cases) {
            out.good.push(await check(o, n, a, b, p));
            // (every tree extends the empty one, whatever its root)
            if (o > 0 && o !== n) out.bad.push(await check(o, n, a, flip(b), p));
            if (o > 0 && o !== n) out.bad.push(await check(o, n, flip(a), b, p));
            if (p.length) out.bad.push(await check(o, n, a, b, [flip(p[0]), ...p.slice(1)]));
            if (p.length) out.bad.push(await check(o, n, a, b, p.slice(1)));
            if (o > 1 && o < n) out.bad.push(await check(o - 1, n, a, b, p));
            if (o < n) out.bad.push(await check(o, n, b, a, p));
            if (o < n) out.bad.push(await check(n, o, a, b, p));
          }
          return out;
        }""",
        cases,
    )
    assert len(outcome["good"]) == len(cases) and all(outcome["good"])
    assert len(outcome["bad"]) > 50 and not any(outcome["bad"]), outcome["bad"]
