"""A person records on the capture page in Chromium while someone else uploads a file in the web
app and a third person runs commands in a terminal; the server is killed mid-recording and
started again. What the browser was told (each chunk's 200) is what must be kept."""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import DEPLOYMENTS, Deployment

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.browser]

CHROMIUM = os.environ.get("TESTIGO_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_for(check: Any, timeout: float, what: str, page: Any) -> Any:
    """Wait while Playwright delivers the page's events (a plain sleep would hold them up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        page.wait_for_timeout(250)
    raise AssertionError(f"timed out waiting for {what}")


# The browser run is the same at both SQLite levels; test_live_use covers FULL.
@pytest.mark.parametrize(
    "deployment", [name for name in DEPLOYMENTS if name != "sqlite-full"], indirect=True
)
def test_browser_capture_and_upload_through_a_kill(
    deployment: Deployment, chromium: Any, tmp_path: Path
) -> None:
    d = deployment
    d.cli("init")
    d.cli("demo")
    created = d.cli("user", "create", "ana", "--role", "admin")
    password = created.rsplit(":", 1)[-1].strip()
    server = d.server()
    server.start()
    link = d.cli_json("capture", "link", "create", "--base-url", server.url)

    acked: set[int] = set()
    server_errors: list[str] = []
    cli_failures: list[str] = []
    stop = threading.Event()

    def terminal() -> None:
        while not stop.is_set():
            for args in (["log", "show", "--json"], ["capture", "list", "--json"], ["verify"]):
                try:
                    d.cli(*args)
                except AssertionError as failure:
                    cli_failures.append(str(failure)[:2000])

    def on_response(response: Any) -> None:
        if response.status >= 500:
            server_errors.append(f"{response.request.method} {response.url} {response.status}")
        patch = response.request.method == "PATCH" and "/capture/sessions/" in response.url
        if patch and response.status == 200:
            acked.add(int(response.headers["chunk-index"]) - 1)

    cli = threading.Thread(target=terminal, daemon=True)
    cli.start()
    try:
        phone = chromium.new_context(locale="en-US")
        page = phone.new_page()
        page.on("response", on_response)
        page.goto(f"{server.url}/capture/{link['token']}")
        page.wait_for_selector("#capture[data-ready='1']", timeout=30_000)
        page.click("#capture-record")
        root = page.locator("#capture")
        wait_for(lambda: len(acked) >= 3, 60, "three acknowledged chunks", page)

        server.kill9()  # mid-recording: the page keeps recording and queues its chunks
        page.wait_for_timeout(1500)
        server.start()
        before = len(acked)
        wait_for(lambda: len(acked) >= before + 3, 90, "chunks sent after the restart", page)

        # Meanwhile someone uploads a file in the web app.
        desk = chromium.new_context(locale="en-US")
        web = desk.new_page()
        web.on("response", on_response)
        web.goto(f"{server.url}/login")
        web.fill("input[name=name]", "ana")
        web.fill("input[name=password]", password)
        web.click("button[type=submit]")
        web.wait_for_url(re.compile(r".*/incidents$"))
        upload = tmp_path / "scene-photo.bin"
        upload.write_bytes(os.urandom(700_000))
        web.goto(f"{server.url}/incidents/1/add")
        web.set_input_files("#file-input", str(upload))
        done = web.locator("#upload-list li[data-state=done]")
        done.wait_for(timeout=60_000)
        upload_sha = hashlib.sha256(upload.read_bytes()).hexdigest()
        assert upload_sha[:12] in done.inner_text()

        page.click("#capture-record")  # stop
        wait_for(
            lambda: root.get_attribute("data-finished") == "1", 90, "the recording saved", page
        )
        capture_id = page.evaluate(
            "() => { for (const k of Object.keys(localStorage)) {"
            " const v = JSON.parse(localStorage.getItem(k) || 'null');"
            " if (v && v.id) return v.id; } return null; }"
        )
        phone.close()
        desk.close()
    finally:
        stop.set()
        cli.join(300)
        server.stop()

    assert server_errors == []
    assert cli_failures == []
    captures = d.cli_json("capture", "list")["captures"]
    assert len(captures) == 1
    shown = d.cli_json("capture", "show", captures[0]["id"])
    if capture_id:
        assert shown["id"] == capture_id
    assert shown["status"] == "finished"
    # Every chunk the browser was told is saved is in the capture, which is contiguous.
    assert shown["chunks"] >= max(acked) + 1
    assert acked <= set(range(shown["chunks"]))
    ledgered = {
        e["entry"]["params"]["index"]
        for e in d.cli_json("log", "show", "--type", "capture.chunk", "--limit", "10000")
        if e["entry"]["params"]["session"] == shown["id"]
    }
    assert ledgered == set(range(shown["chunks"]))
    assert acked <= ledgered
    subjects = {
        s for e in d.cli_json("log", "show", "--limit", "10000") for s in e["entry"]["subjects"]
    }
    assert f"sha256:{upload_sha}" in subjects
    d.cli("verify")
    assert server.bad_log_lines() == [], server.tail()
