"""The web app as a person uses it, in Chromium: log in, import the example article, read the
timeline and the side-by-side claims, upload with the progress bar, verify an item (and see a
tampered proof fail), switch to Spanish, and be refused a restricted incident as a viewer."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from testigo.config import Settings
from testigo.demo import load_example
from testigo.vault.service import open_vault
from testigo.web import accounts, editing
from testigo.web.accounts import Principal

from ..fixtures import EXAMPLE_ARTICLE

pytestmark = pytest.mark.browser
PASSWORD = "browser-test-password"
SHOTS = (
    Path(os.environ.get("TESTIGO_SCREENSHOTS", ""))
    if os.environ.get("TESTIGO_SCREENSHOTS")
    else None
)


def _shot(page: Any, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _seed(settings: Settings) -> dict[str, int]:
    vault = open_vault(settings)
    try:
        example = load_example(vault, actor="test:browser").incident_id
        admin, _ = accounts.create_user(vault, "ana", "admin", actor="test", password=PASSWORD)
        accounts.create_user(vault, "val", "viewer", actor="test", password=PASSWORD)
        boss = Principal(admin.id, admin.name, "admin", "token")
        secret = editing.create_incident(vault, boss, title="Sealed case", restricted=True)
    finally:
        vault.dispose()
    return {"example": example, "secret": secret}


def _login(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/incidents$"))


@pytest.fixture
def ids(browser_settings: Settings) -> dict[str, int]:
    return _seed(browser_settings)


def test_a_day_in_the_web_app(
    ids: dict[str, int], live_server: str, chromium: Any, tmp_path: Path
) -> None:
    base = live_server
    context = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    _login(page, base, "ana")
    assert page.locator("#incident-list tbody tr").count() >= 2
    _shot(page, "incidents")

    # Import the example article into the example incident.
    page.goto(f"{base}/incidents/{ids['example']}/add")
    page.fill("#article-text", EXAMPLE_ARTICLE)
    page.click("#article-submit")
    page.wait_for_url(re.compile(rf".*/incidents/{ids['example']}#timeline$"))
    events = page.locator("ol.timeline li.event")
    assert events.count() >= 2
    # Clicking a citation shows the exact words; some of them come from the imported article.
    article = " ".join(EXAMPLE_ARTICLE.split())
    citations = page.locator("ol.timeline details.citation")
    quoted = []
    for index in range(citations.count()):
        citation = citations.nth(index)
        citation.locator("summary").click()
        mark = citation.locator("mark")
        assert mark.is_visible()
        quoted.append(" ".join(mark.inner_text().split()))
    assert any(words and words in article for words in quoted), quoted
    sources = page.locator("#sources article.source")
    assert sources.count() >= 1
    assert page.locator("#sources q").count() >= 1
    # A witness's own account goes beside the article.
    page.goto(f"{base}/incidents/{ids['example']}/add")
    page.fill(
        "#witness textarea[name=text]",
        "ICE officers broke the driver's window in Kansas City, Missouri. "
        "They never showed a warrant.",
    )
    page.fill("#witness input[name=author]", "R. Example")
    page.click("#witness button[type=submit]")
    page.wait_for_url(re.compile(rf".*/incidents/{ids['example']}#sources$"))
    assert page.locator(".side-by-side article.source").count() >= 2
    _shot(page, "incident")

    # Upload a file: the progress bar fills and the item is stored.
    blob = tmp_path / "clip.bin"
    blob.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    page.goto(f"{base}/incidents/{ids['example']}/add")
    page.set_input_files("#file-input", str(blob))
    done = page.locator("#upload-list li[data-state=done]")
    done.wait_for(timeout=60_000)
    bar = page.locator("#upload-list progress").first
    assert bar.evaluate("b => b.value === b.max && b.max > 3000000")
    assert "sha256" in done.inner_text()
    _shot(page, "upload")

    # Verify an item in the browser, then a tampered proof must fail.
    page.goto(f"{base}/incidents/{ids['example']}#evidence")
    first = page.locator("button.verify").first
    item_id = first.get_attribute("data-item-id")
    first.click()
    result = page.locator(f"#verify-{item_id}")
    page.locator(f"#verify-{item_id}:not([data-state=working])").wait_for(
        state="attached", timeout=30_000
    )
    assert result.get_attribute("data-state") == "ok", result.inner_text()
    assert "Verified" in result.inner_text()
    _shot(page, "verified")

    def tamper(route: Any) -> None:
        response = route.fetch()
        data = json.loads(response.text())
        entry = data["entries"][0]
        if entry["proof"]:
            entry["proof"][0] = ("0" if entry["proof"][0][0] != "0" else "1") + entry["proof"][0][
                1:
            ]
        else:
            data["checkpoint"]["note"] = data["checkpoint"]["note"].replace("\n", "\nx", 1)
        route.fulfill(response=response, body=json.dumps(data))

    page.route("**/api/v1/items/*/proof", tamper)
    first.click()
    page.locator(f"#verify-{item_id}[data-state=fail]").wait_for(state="attached", timeout=30_000)
    assert "NOT verified" in result.inner_text()
    page.unroute("**/api/v1/items/*/proof")

    # The map and the statistics are drawn from the app alone.
    page.goto(f"{base}/map")
    assert page.locator("svg#incident-map circle.point").count() >= 1
    _shot(page, "map")
    page.goto(f"{base}/stats")
    assert page.locator("figure.chart").count() == 4
    _shot(page, "stats")

    # Spanish, by the switch.
    page.goto(f"{base}/incidents")
    page.click("#language-switch a[hreflang=es]")
    page.wait_for_load_state()
    assert page.locator("header nav a").first.inner_text() == "Incidentes"
    assert page.locator("html").get_attribute("lang") == "es"
    _shot(page, "incidents-es")
    page.goto(f"{base}/incidents/{ids['example']}")
    assert page.locator("#timeline h2").inner_text() == "Cronología"
    context.close()

    # A viewer cannot open the restricted incident, and does not see it listed.
    viewer_context = chromium.new_context(locale="es-ES")
    viewer = viewer_context.new_page()
    _login(viewer, base, "val")
    assert "Sealed case" not in viewer.locator("#incident-list").inner_text()
    response = viewer.goto(f"{base}/incidents/{ids['secret']}")
    assert response is not None and response.status == 404
    assert viewer.locator("h1").inner_text() == "No encontrado"
    api = viewer.goto(f"{base}/api/v1/incidents/{ids['secret']}")
    assert api is not None and api.status == 404
    viewer_context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors
